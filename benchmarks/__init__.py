"""skimpute's benchmark suites.

Run ``python -m benchmarks --suite NAME --profile quick|paper`` from the repository root; the
results go to ``benchmarks/results/NAME.md`` and ``NAME.csv``, one raw JSON file per dataset,
method and seed under ``benchmarks/results/raw/NAME/`` so that a long suite can be resumed with
``--resume``. ``python -m benchmarks --list`` lists the suites.
"""
