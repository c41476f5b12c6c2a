#!/usr/bin/env bash
# Trains the end-of-turn models and rewrites crates/endpointing/model/ and data/eot_valid_*.json.
# One command from the repository root: bash crates/endpointing/train/train.sh
# The virtual environment lives under target/ (ignored); packages come from PyPI, pinned in requirements.txt.
# Training is single-threaded and takes well under a minute.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$root/target/endpointing-train/venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice "$venv/bin/python" "$here/train.py" "$@"
