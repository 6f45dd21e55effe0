#!/bin/sh
# Print the pip option that makes the CPU build of torch installable, or nothing when none is needed.
#
#   tools/torch_index.sh PIP REQUIREMENTS      (TORCH_INDEX in the environment: the CPU wheel index)
#
# requirements-cpu.txt pins torch 2.13.0+cpu on Linux, a build only PyTorch's CPU index has (PyPI's
# Linux wheels are CUDA builds with ~3 GB of nvidia-* packages). When this machine's pip already
# finds the pinned wheel without any index (find-links or a local wheel directory in its pip
# configuration, as on this project's CI machines) nothing is printed, so the install never needs
# download.pytorch.org there; otherwise "--extra-index-url $TORCH_INDEX". An empty TORCH_INDEX
# prints nothing.
set -eu
pip=$1 requirements=$2
[ -n "${TORCH_INDEX:-}" ] || exit 0
torch_req=$(grep -m1 '^torch' "$requirements")
if "$pip" install -q --dry-run --no-deps --no-index --ignore-installed "$torch_req" >/dev/null 2>&1; then
    exit 0
fi
echo "--extra-index-url $TORCH_INDEX"
