#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff), build the documentation with warnings as errors, run the tests.
# Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh test,docs,bench,persist,distributed,ray
. .venv/bin/activate
# One torch thread per process: CI machines have two cores and the suite may share them.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m ruff check skimpute tests benchmarks examples docs/conf.py
python -m ruff format --check --quiet skimpute tests benchmarks examples docs/conf.py
rm -rf docs/_build docs/generated
python -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "docs: built with no warnings"
python -m pytest "$@"
