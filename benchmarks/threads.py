"""torch threads and glibc's trim threshold: their effect on the speed of the neural imputers.

``python -m benchmarks.threads`` writes ``results/threads.md`` and ``results/threads.json``
(the raw records, written after each measurement); ``--append`` adds a run to the records
already there, ``--report-only`` rewrites the page from them. Each measurement runs in a fresh
Python process, started with the
thread variables (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) set to the thread count, which it
also passes to :func:`torch.set_num_threads`:

- *threads*: seconds per epoch of ``NotMIWAEImputer().fit`` (the default network, ``K = 20``,
  batches of 32; median of the epochs after the first) and seconds of ``transform`` (``L =
  1000``) with 1, 2 and ``os.cpu_count()`` torch threads, on the machine as it is ("idle")
  and beside a process that keeps one core busy (a Python busy loop started just before);
- *malloc*: the same with one thread, with and without ``MALLOC_TRIM_THRESHOLD_=65536``, the
  value dask's nanny gives its workers, for ``NotMIWAEImputer`` and ``GNRImputer``.

The data: 30 columns, the first 15 self-masked above their mean (as in ``benchmarks.speed``).
Each process also records a hash of the fitted weights and of the imputations, so the table
says whether the thread count changes the results. On a machine shared with other work,
"idle" is not idle: the one-minute load average is recorded before and after each
measurement.
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: the estimators measured, by name: their defaults but for max_epochs and random_state
MODELS = {
    "NotMIWAE": "NotMIWAEImputer",
    "GNR": "GNRImputer",
}

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"


def _sha(arrays):
    """Hex digest (12 characters) of the bytes of a sequence of arrays."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:12]


def measure_once(model, n_threads, train_rows, epochs, transform_rows):
    """Fit and transform once in this process; return the record (run in a fresh process)."""
    import torch

    import skimpute
    from benchmarks.speed import make_data

    torch.set_num_threads(n_threads)
    load_before = os.getloadavg()[0]
    _, X_train = make_data(train_rows, seed=1)
    # the estimators' own n_threads (default 1) would override torch's setting
    estimator = getattr(skimpute, MODELS[model])(
        max_epochs=epochs, n_threads=n_threads, random_state=0
    )
    t0, c0 = time.perf_counter(), time.process_time()
    estimator.fit(X_train)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    durations = list(estimator.net_.history[:, "dur"])
    weights = [p.detach().numpy() for p in estimator.net_.module_.state_dict().values()]
    record = {
        "model": model,
        "n_threads": n_threads,
        "torch_threads": torch.get_num_threads(),
        "malloc_trim_threshold": os.environ.get(MALLOC_TRIM),
        "train_rows": train_rows,
        "epochs": epochs,
        "fit_s": fit_s,
        "fit_cpu_s": fit_cpu_s,
        "s_per_epoch": statistics.median(durations[1:] if len(durations) > 1 else durations),
        "epoch_s": durations,
        "weights_sha": _sha(weights),
        "transform_rows": transform_rows,
    }
    if transform_rows:
        _, X_test = make_data(transform_rows, seed=2)
        t0, c0 = time.perf_counter(), time.process_time()
        X_imputed = estimator.transform(X_test)
        record["transform_s"] = time.perf_counter() - t0
        record["transform_cpu_s"] = time.process_time() - c0
        record["imputed_sha"] = _sha([X_imputed])
    record["load_before"] = load_before
    record["load_after"] = os.getloadavg()[0]
    return record


def run_config(config, busy=False, malloc_trim=None):
    """Run one measurement in a fresh process; with `busy`, beside a busy-loop process.

    Parameters
    ----------
    config : dict
        Keyword arguments of :func:`measure_once`.
    busy : bool, default=False
        Start a Python busy loop first (it keeps one core busy) and stop it afterwards.
    malloc_trim : str or None, default=None
        Value of ``MALLOC_TRIM_THRESHOLD_`` in the measuring process; None leaves it out.

    Returns
    -------
    record : dict
        The record of :func:`measure_once`, with ``load`` ("idle" or "busy") added.
    """
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(config["n_threads"])
    env.pop(MALLOC_TRIM, None)
    if malloc_trim is not None:
        env[MALLOC_TRIM] = malloc_trim
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-m", "benchmarks.threads", "--worker", json.dumps(config)]
    hog = None
    if busy:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    try:
        out = subprocess.run(
            command, env=env, cwd=REPO, capture_output=True, text=True, check=False
        )
    finally:
        if hog is not None:
            hog.terminate()
            hog.wait()
    if out.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{out.stderr[-3000:]}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["load"] = "busy" if busy else "idle"
    return record


def _median(records, key):
    values = [r[key] for r in records if key in r]
    return statistics.median(values) if values else float("nan")


def _span(records, key, digits):
    """'median (min-max)' of a field over records."""
    values = [r[key] for r in records if key in r]
    if not values:
        return "-"
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def _cpu_ratio(records):
    """Median over records of CPU seconds per wall second of ``fit`` (above 1: threads ran)."""
    values = [r["fit_cpu_s"] / r["fit_s"] for r in records if "fit_cpu_s" in r]
    return f"{statistics.median(values):.2f}" if values else "-"


def _groups(records, keys):
    groups = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def _load_range(records):
    loads = [r["load_before"] for r in records] + [r["load_after"] for r in records]
    return f"{min(loads):.1f}-{max(loads):.1f}"


def to_markdown(payload):
    """The results page, from the payload of ``threads.json``: the threads table, the
    trim-threshold table, and the runs they come from."""
    records, runs = payload["records"], payload["runs"]
    lines = [
        "# torch threads and glibc's trim threshold",
        "",
        f"Machine: {payload['machine']}. It was shared with other work (the one-minute load "
        f"average was {_load_range(records)} during the measurements), so 'idle' means no busy "
        "loop of ours, not an idle machine; the load average of each row's measurements is in "
        "its last column.",
        "",
        "Each measurement is a fresh process with `OMP_NUM_THREADS` = `MKL_NUM_THREADS` = the "
        "thread count. s/epoch: median of the epochs after the first (2048 rows of 30 "
        "columns, batches of 32, the estimator's default network); transform: 500 rows at the "
        "default L = 1000. 'busy': beside a Python busy loop that keeps one core busy. Each "
        "cell: median (min-max) over the repeats of all runs; 'x 1 thread' divides the "
        "medians by those of one thread at the same load. CPU/wall: CPU seconds of the "
        "process per second of `fit`; above 1 only if two threads ran at once.",
        "",
        "## Threads (NotMIWAEImputer)",
        "",
        "| threads | load | n | s/epoch | x 1 thread | transform s | x 1 thread | CPU/wall "
        "| load average |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    threads = [r for r in records if r["section"] == "threads"]
    groups = _groups(threads, ("load", "n_threads"))
    for (load, n), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "idle", kv[0][1])):
        base = groups.get((load, 1), rs)
        lines.append(
            f"| {n} | {load} | {len(rs)} | {_span(rs, 's_per_epoch', 2)} | "
            f"{_median(rs, 's_per_epoch') / _median(base, 's_per_epoch'):.2f} | "
            f"{_span(rs, 'transform_s', 1)} | "
            f"{_median(rs, 'transform_s') / _median(base, 'transform_s'):.2f} | "
            f"{_cpu_ratio(rs)} | {_load_range(rs)} |"
        )
    one_weights = {r["weights_sha"] for r in threads if r["n_threads"] == 1}
    one_imputed = {r.get("imputed_sha") for r in threads if r["n_threads"] == 1}
    more = [r for r in threads if r["n_threads"] > 1]
    same_weights = sum(r["weights_sha"] in one_weights for r in more)
    same_imputed = sum(r.get("imputed_sha") in one_imputed for r in more)
    lines += [
        "",
        f"Bit for bit: the one-thread measurements gave {len(one_weights)} distinct fitted "
        f"weights and {len(one_imputed)} distinct imputations; of the {len(more)} measurements "
        f"with more threads, {same_weights} gave the one-thread weights and {same_imputed} the "
        "one-thread imputations (the others differ in the last bits).",
        "",
        "## glibc's trim threshold (1 thread, no busy loop)",
        "",
        "`MALLOC_TRIM_THRESHOLD_=65536` is what dask's nanny sets in its workers.",
        "",
        "| model | MALLOC_TRIM_THRESHOLD_ | n | s/epoch | x unset | transform s | x unset "
        "| load average |",
        "|---|---|---|---|---|---|---|---|",
    ]
    malloc = [r for r in records if r["section"] == "malloc"]
    groups = _groups(malloc, ("model", "malloc_trim_threshold"))
    for (model, value), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        base = groups.get((model, None), rs)
        lines.append(
            f"| {model} | {value or 'unset'} | {len(rs)} | {_span(rs, 's_per_epoch', 2)} | "
            f"{_median(rs, 's_per_epoch') / _median(base, 's_per_epoch'):.2f} | "
            f"{_span(rs, 'transform_s', 1)} | "
            f"{_median(rs, 'transform_s') / _median(base, 'transform_s'):.2f} | "
            f"{_load_range(rs)} |"
        )
    lines += ["", "## Runs", "", "| run | started (UTC) | load average at start | measurements |"]
    lines.append("|---|---|---|---|")
    for i, run in enumerate(runs):
        count = sum(r.get("run", 0) == i for r in records)
        lines.append(f"| {i} | {run['started']} | {run['load_at_start']:.2f} | {count} |")
    if payload.get("note"):
        lines += ["", payload["note"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads", description=__doc__)
    parser.add_argument(
        "--threads", nargs="+", type=int, default=sorted({1, 2, os.cpu_count() or 1})
    )
    parser.add_argument("--train-rows", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--transform-rows", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--sections", nargs="+", choices=("threads", "malloc"), default=["threads", "malloc"]
    )
    parser.add_argument(
        "--append", action="store_true", help="add this run to the records of threads.json"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="run nothing: rewrite threads.md"
    )
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # one measurement, in this fresh process
        print(json.dumps(measure_once(**json.loads(args.worker))))
        return 0

    from benchmarks._runner import machine_description

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / "threads.json"
    if (args.append or args.report_only) and raw.exists():
        payload = json.loads(raw.read_text())
    else:
        payload = {"machine": machine_description(), "runs": [], "records": []}
    if not args.report_only:
        run = len(payload["runs"])
        payload["runs"].append(
            {
                "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M"),
                "load_at_start": os.getloadavg()[0],
            }
        )
        size = dict(
            train_rows=args.train_rows, epochs=args.epochs, transform_rows=args.transform_rows
        )
        jobs = []
        for repeat in range(args.repeats):  # repeats outermost, to spread the machine's noise
            if "threads" in args.sections:
                for busy in (False, True):
                    for n in args.threads:
                        config = dict(model="NotMIWAE", n_threads=n, **size)
                        jobs.append(("threads", config, busy, None))
            if "malloc" in args.sections:
                for model in MODELS:
                    for value in (None, "65536"):
                        config = dict(model=model, n_threads=1, **size)
                        jobs.append(("malloc", config, False, value))
        for section, config, busy, value in jobs:
            record = run_config(config, busy=busy, malloc_trim=value)
            record["section"], record["run"] = section, run
            print(json.dumps({k: v for k, v in record.items() if k != "epoch_s"}), flush=True)
            payload["records"].append(record)
            raw.write_text(json.dumps(payload, indent=1) + "\n")  # after each: a stop keeps them
    text = to_markdown(payload)
    (out_dir / "threads.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
