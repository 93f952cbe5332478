#!/usr/bin/env bash
# Create .venv in the repository root and install skimpute with the extras named in $1
# (default "test,docs,bench,persist"). Safe to re-run: an existing .venv is reused.
#
# torch is installed first, pinned, so that pip resolves it to the CPU build where one is
# provided locally (pip's find-links) and never pulls the multi-GB CUDA stack on a CPU-only
# machine. Set SKIMPUTE_TORCH_SPEC to install another build (for example on a GPU machine).
set -euo pipefail
extras="${1:-test,docs,bench,persist}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
. .venv/bin/activate
torch_spec="${SKIMPUTE_TORCH_SPEC:-torch==2.13.0}"
if ! python -c "import torch" >/dev/null 2>&1; then
    python -m pip install -qq "$torch_spec"
fi
python -m pip install -qq -e ".[${extras}]"
