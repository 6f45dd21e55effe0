#!/usr/bin/env bash
# Installs the Debian packages the Slurm tests need (slurm-wlm, munge, slurmdbd, mariadb-server).
# Needs root and apt; does nothing when everything is already there. Never starts a daemon:
# tools/slurm_cluster.py starts and stops them for the tests.
set -euo pipefail
need=()
for pair in slurmctld:slurm-wlm slurmd:slurm-wlm munged:munge slurmdbd:slurmdbd mariadbd:mariadb-server; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then need+=("$pkg"); fi
done
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
    echo "install_system_deps: missing ${need[*]} and not root; install them with apt-get or run 'make test-fast'" >&2
    exit 0
fi
echo "install_system_deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
