#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the quick benchmark: skimpute's imputers against the mean
# and MICE on scikit-learn's breast-cancer data under MNAR self-masking. Prints the table and
# writes benchmarks/results/quick.md and .csv. Extra arguments go to the benchmark runner.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh bench
. .venv/bin/activate
python -m benchmarks --suite quick "$@"
