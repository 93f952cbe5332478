"""Command line: ``python -m benchmarks --suite NAME --profile quick|paper``."""

import argparse
import sys

from benchmarks._report import write_report
from benchmarks._runner import RESULTS_DIR, machine_description, run_suite
from benchmarks._suites import SUITES


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run a skimpute benchmark suite."
    )
    parser.add_argument("--suite", default="quick", help="suite name (see --list)")
    parser.add_argument("--profile", choices=("quick", "paper"), default="quick")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument("--datasets", nargs="+", help="run only these datasets")
    parser.add_argument("--methods", nargs="+", help="run only these methods")
    parser.add_argument(
        "--seeds", type=int, help="number of seeds, 0 to n-1 (overrides the profile)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="reuse raw results already written for a cell"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: write the tables from the raw results already there",
    )
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), help="where results go")
    parser.add_argument("--data-home", help="folder with the UCI files (else SKIMPUTE_DATA)")
    args = parser.parse_args(argv)

    if args.list:
        for suite in SUITES.values():
            print(f"{suite.name}: {suite.description}")
        return 0
    if args.suite not in SUITES:
        parser.error(f"unknown suite {args.suite!r}; choose from {sorted(SUITES)}")
    if args.seeds is not None and args.seeds < 1:
        parser.error(
            f"--seeds is the number of seeds (seeds 0 to n-1), at least 1; got {args.seeds}"
        )
    suite = SUITES[args.suite]
    records = run_suite(
        suite,
        args.profile,
        datasets=args.datasets,
        methods=args.methods,
        n_seeds=args.seeds,
        resume=args.resume,
        report_only=args.report_only,
        out_dir=args.out_dir,
        data_home=args.data_home,
    )
    if not records:
        print(f"{suite.name}: no result to report (nothing ran, and no raw result was there)")
        return 1
    # the machines the records were measured on (a resumed or report-only run may differ)
    machines = list(dict.fromkeys(r.get("machine") for r in records if r.get("machine")))
    machine = "; or ".join(machines) if machines else machine_description()
    text = write_report(records, suite, args.profile, machine, args.out_dir)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
