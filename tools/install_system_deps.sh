#!/usr/bin/env bash
# Installs the Debian packages of the real single-node Slurm cluster the `slurm` tests use:
# slurm-wlm (slurmctld, slurmd, slurm-client: sbatch, srun, sinfo, sacct, scontrol, sacctmgr),
# munge, slurmdbd and mariadb-server. `make test` runs it.
#
# Needs root and apt (Debian/Ubuntu); does nothing when everything is already there, and only
# warns (the slurm tests then skip with the reason) when it cannot install. It never starts a
# daemon: a policy-rc.d forbids the packages' services from starting during the install, and
# tools/slurm_cluster.py starts and stops its own daemons under a directory of its own.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
declare -A need=()
for pair in slurmctld:slurm-wlm slurmd:slurm-wlm sbatch:slurm-wlm srun:slurm-wlm sacct:slurm-wlm \
            sacctmgr:slurm-wlm munged:munge slurmdbd:slurmdbd mariadbd:mariadb-server \
            mariadb-install-db:mariadb-server; do
    cmd=${pair%%:*} pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need[$pkg]=1
done
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
pkgs="${!need[*]} "
if [ "$EUID" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: missing $pkgs(needs root and apt-get); the slurm tests will skip." \
         "Install them as root, or run 'make test-fast'" >&2
    exit 0
fi
echo "install_system_deps: installing $pkgs"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then  # invoke-rc.d: "101 = action forbidden", so no service starts
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq
# shellcheck disable=SC2086  # a list of package names
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
