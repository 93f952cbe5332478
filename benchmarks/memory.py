"""Peak memory of NotMIWAEImputer's transform as the rows grow: chunked over memmaps, or in memory.

``python -m benchmarks.memory [--rows 10000 100000 1000000] [--plain-rows 10000 100000]
[--resume]`` fits one :class:`~skimpute.NotMIWAEImputer` on 2000 rows x 30 columns (its default
architecture and ``n_imputation_samples=1000``, 5 epochs), then measures, each in a fresh
subprocess that loads the pickled model:

- ``chunked``: :func:`skimpute.transform_in_chunks` from an input ``.npy`` file opened as a
  read-only :class:`numpy.memmap` into an output ``.npy`` memmap, ``--chunk-size`` rows a block;
- ``plain``: ``np.load`` of the input file into memory and ``estimator.transform`` on it.

The data: a Gaussian with a rank-5 covariance plus noise in 30 columns, 20% of the entries
missing completely at random, written block by block into a temporary folder (deleted after
each case). For each case the subprocess records, above its baseline after loading the model:
the peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end minus the
resident size at the baseline), the peak of the anonymous resident memory (``RssAnon`` of
``/proc/self/status``, sampled every 10 ms: the process's own memory, without the pages of
mapped files), the peak of :mod:`tracemalloc` (numpy's and Python's allocations; torch's CPU
allocator does not report to it) and the wall-clock time, with one torch thread. It also checks
that the output has no NaN and keeps the observed entries bit for bit.

It writes ``results/memory.md`` and ``results/memory.csv``, and one raw JSON file per case under
``results/raw/memory/`` (``--resume`` reuses them).
"""

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks._runner import RESULTS_DIR, machine_description

N_FEATURES = 30
RATE = 0.2
N_TRAIN = 2000
TRAIN_EPOCHS = 5
GENERATE_BLOCK = 100_000


def make_block(n_rows, seed, n_features=N_FEATURES, rank=5):
    """Rows of the benchmark's data: rank-5 Gaussian plus noise, 20% MCAR.

    The mixing matrix is the same for every block (seed 0); the rows and the mask come from
    `seed`. Returns an array of shape (n_rows, n_features) with NaN for the missing entries.
    """
    from skimpute.ampute import mcar

    mixing = np.random.default_rng(0).normal(size=(rank, n_features))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, rank)) @ mixing + 0.3 * rng.normal(size=(n_rows, n_features))
    return mcar(X, RATE, random_state=seed)[0]


def write_input(path, n_rows):
    """Write `n_rows` rows of benchmark data to the ``.npy`` file `path`, a block at a time.

    The blocks are written with ``write``, not through a memmap, so that the parent's resident
    set does not grow with the file: Linux passes a process's peak RSS (``ru_maxrss``) on to
    the children it starts, and a large parent peak would hide the case's own.
    """
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float64)),
        "fortran_order": False,
        "shape": (n_rows, N_FEATURES),
    }
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for k, start in enumerate(range(0, n_rows, GENERATE_BLOCK)):
            stop = min(n_rows, start + GENERATE_BLOCK)
            fh.write(np.ascontiguousarray(make_block(stop - start, seed=1000 + k)).tobytes())


def fit_model(path, n_imputation_samples=1000):
    """Fit the benchmark's NotMIWAEImputer on 2000 rows and pickle it to `path`.

    `n_imputation_samples` (L) is used by transform only: the training is the same for any L.
    """
    import torch

    from skimpute import NotMIWAEImputer

    torch.set_num_threads(1)
    imputer = NotMIWAEImputer(
        max_epochs=TRAIN_EPOCHS, n_imputation_samples=n_imputation_samples, random_state=0
    )
    t0 = time.perf_counter()
    imputer.fit(make_block(N_TRAIN, seed=1))
    seconds = time.perf_counter() - t0
    with open(path, "wb") as fh:
        pickle.dump(imputer, fh)
    return imputer, seconds


# ------------------------------------------------------------------------------ subprocess side
def _status_kb(*keys):
    """Fields of ``/proc/self/status`` in KiB (None where unavailable)."""
    found = dict.fromkeys(keys)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name in found:
                    found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


def _maxrss_kb():
    """Lifetime peak resident set size of this process in KiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)


def run_case(spec):
    """Measure one case in this process; `spec` has mode, model, input, output, chunk_size."""
    import torch

    torch.set_num_threads(1)
    from skimpute import transform_in_chunks

    with open(spec["model"], "rb") as fh:
        imputer = pickle.load(fh)
    base = _status_kb("VmRSS", "RssAnon")
    maxrss_before = _maxrss_kb()
    peak_anon = [base["RssAnon"] or 0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            anon = _status_kb("RssAnon")["RssAnon"]
            if anon is not None and anon > peak_anon[0]:
                peak_anon[0] = anon
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    load_before = os.getloadavg()[0]
    tracemalloc.start()
    sampler.start()
    t0 = time.perf_counter()
    if spec["mode"] == "chunked":
        X = np.load(spec["input"], mmap_mode="r")
        out = np.lib.format.open_memmap(spec["output"], mode="w+", dtype=X.dtype, shape=X.shape)
        transform_in_chunks(imputer, X, out=out, chunk_size=spec["chunk_size"])
        del out
    else:
        X = np.load(spec["input"])
        X_imputed = imputer.transform(X)
        np.save(spec["output"], X_imputed)
        del X_imputed
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    maxrss_after = _maxrss_kb()
    end = _status_kb("RssAnon")["RssAnon"]
    if end is not None:
        peak_anon[0] = max(peak_anon[0], end)
    del X
    n_rows, ok = _check_output(spec["input"], spec["output"])
    return {
        "mode": spec["mode"],
        "n_rows": n_rows,
        "n_features": N_FEATURES,
        "chunk_size": spec["chunk_size"] if spec["mode"] == "chunked" else None,
        "n_imputation_samples": imputer.n_imputation_samples,
        "hidden_layer_sizes": list(imputer.hidden_layer_sizes),
        "rows_per_inner_chunk": imputer._rows_per_chunk(N_FEATURES),
        "seconds": seconds,
        "rows_per_s": n_rows / seconds,
        "baseline_rss_mb": base["VmRSS"] / 1024 if base["VmRSS"] else None,
        "maxrss_before_mb": maxrss_before / 1024,
        "maxrss_after_mb": maxrss_after / 1024,
        "peak_rss_mb": (maxrss_after - (base["VmRSS"] or maxrss_before)) / 1024,
        "peak_anon_mb": (peak_anon[0] - (base["RssAnon"] or 0)) / 1024
        if base["RssAnon"] is not None
        else None,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "array_mb": n_rows * N_FEATURES * 8 / 2**20,
        "output_ok": ok,
        "load_average": [load_before, os.getloadavg()[0]],
        "machine": machine_description(),
    }


def _check_output(input_path, output_path, block=100_000):
    """Rows of the output and whether it has no NaN and keeps the observed entries."""
    X = np.load(input_path, mmap_mode="r")
    Y = np.load(output_path, mmap_mode="r")
    ok = X.shape == Y.shape
    for start in range(0, X.shape[0], block):
        x, y = np.asarray(X[start : start + block]), np.asarray(Y[start : start + block])
        observed = ~np.isnan(x)
        ok = ok and not np.isnan(y).any() and np.array_equal(x[observed], y[observed])
    return int(X.shape[0]), bool(ok)


# --------------------------------------------------------------------------------- parent side
def measure_case(mode, n_rows, model_path, work_dir, chunk_size):
    """Write the input, run the case in a fresh interpreter and return its record."""
    input_path = Path(work_dir) / f"X_{n_rows}.npy"
    output_path = Path(work_dir) / f"out_{mode}_{n_rows}.npy"
    write_input(input_path, n_rows)
    spec = {
        "mode": mode,
        "model": str(model_path),
        "input": str(input_path),
        "output": str(output_path),
        "chunk_size": chunk_size,
    }
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        for path in (input_path, output_path):
            path.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {mode} case with {n_rows} rows failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(value, digits=1):
    return "" if value is None else f"{value:.{digits}f}"


def _peak_rss(record):
    """The case's peak RSS, or None where ``ru_maxrss`` only shows a peak from before the case.

    Linux keeps the high-water mark of the resident set across ``fork`` and ``execve``, so a
    child starts with its parent's peak (the parent writes the input files); the case's own peak
    is known only where it exceeded that.
    """
    if record["maxrss_after_mb"] > record["maxrss_before_mb"]:
        return record["peak_rss_mb"]
    return None


def to_markdown(records, fit_seconds):
    """The memory page: protocol, machine, then one row per case."""
    machine = records[0]["machine"] if records else machine_description()
    first = records[0] if records else {}
    lines = [
        "# Peak memory of transform as the rows grow",
        "",
        f"Machine: {machine}.",
        "",
        f"Model: `NotMIWAEImputer` with its defaults (hidden_layer_sizes="
        f"{tuple(first.get('hidden_layer_sizes', (128, 128)))}; n_imputation_samples, L, "
        "is the default 1000 or the value in the table's L column), fitted for "
        f"{TRAIN_EPOCHS} epochs on "
        f"{N_TRAIN} rows x {N_FEATURES} columns"
        + (f" ({fit_seconds:.0f} s)" if fit_seconds else "")
        + ". Data: rank-5 Gaussian plus noise, "
        f"{RATE:.0%} of the entries missing completely at random. Inside `transform` the "
        "imputer works on inner chunks of rows sized by its memory budget of 256 MiB ("
        + ", ".join(
            f"{rows} rows at L = {L}"
            for L, rows in sorted(
                {(r["n_imputation_samples"], r["rows_per_inner_chunk"]) for r in records},
                reverse=True,
            )
        )
        + "): L changes the time per row, not the memory.",
        "",
        "`chunked`: `skimpute.transform_in_chunks` from a read-only `np.memmap` of the input "
        "`.npy` file into an `np.memmap` of the output file. `plain`: `np.load` of the input "
        "into memory, `estimator.transform`, `np.save` of the result. Each case runs in a fresh "
        "subprocess with one torch thread; memory is measured above the subprocess's level "
        "after loading the fitted model. `peak RSS`: `ru_maxrss` at the end minus the resident "
        "size at that baseline, blank where the case never exceeded the high-water mark the "
        "process inherited from its parent (Linux keeps it across fork and exec); `peak anon`: "
        "the largest anonymous resident memory (RssAnon, "
        "sampled every 10 ms), the process's own memory without mapped file pages; "
        "`tracemalloc`: peak of numpy's and Python's allocations (torch's are not traced); "
        "`one array`: the size of one float64 copy of the data. `ok`: no NaN left and the "
        "observed entries returned bit for bit. The chunk size in brackets is the rows per "
        "block that `transform_in_chunks` reads: the chunk size rounded down to a multiple of "
        "the imputer's inner chunk.",
        "",
        "| mode | L | rows | chunk size | seconds | rows/s | peak RSS MB | peak anon MB "
        "| tracemalloc MB | one array MB | ok | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (-r["n_imputation_samples"], r["mode"], r["n_rows"])):
        load = "-".join(f"{v:.1f}" for v in r["load_average"])
        chunk = ""
        if r["chunk_size"]:
            inner = r["rows_per_inner_chunk"]
            chunk = f"{r['chunk_size']} ({max(inner, r['chunk_size'] // inner * inner)})"
        lines.append(
            f"| {r['mode']} | {r['n_imputation_samples']} | {r['n_rows']:,} | {chunk} | "
            f"{r['seconds']:.0f} | "
            f"{r['rows_per_s']:.0f} | {_fmt(_peak_rss(r))} | {_fmt(r['peak_anon_mb'])} | "
            f"{_fmt(r['tracemalloc_peak_mb'])} | {_fmt(r['array_mb'])} | "
            f"{'yes' if r['output_ok'] else 'NO'} | {load} |"
        )
    lines += [
        "",
        "The load average (at the start and the end of the case) is that of the whole machine, "
        "shared with other work: the times are those of a busy machine.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--rows", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--plain-rows", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument(
        "--imputation-samples",
        type=int,
        default=1000,
        help="the imputer's n_imputation_samples, L (transform time grows with it; memory not)",
    )
    parser.add_argument("--resume", action="store_true", help="reuse the raw results there")
    parser.add_argument(
        "--report-only", action="store_true", help="run nothing: write the report from raw files"
    )
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(json.loads(args.child))), flush=True)
        return 0

    out_dir = Path(args.out_dir)
    raw = out_dir / "raw" / "memory"
    raw.mkdir(parents=True, exist_ok=True)
    fit_path = raw / "fit.json"
    if args.report_only:
        records = [json.loads(p.read_text()) for p in sorted(raw.glob("*_*.json"))]
        fit = json.loads(fit_path.read_text())["fit_seconds"] if fit_path.exists() else None
        print(_write_report(records, fit, out_dir))
        return 0
    cases = []
    for n_rows in sorted(set(args.rows) | set(args.plain_rows)):
        if n_rows in args.rows:
            cases.append(("chunked", n_rows))
        if n_rows in args.plain_rows:
            cases.append(("plain", n_rows))
    work_dir = tempfile.mkdtemp(prefix="skimpute_memory_")
    records, fit_seconds = [], None
    try:
        model_path = Path(work_dir) / "model.pkl"
        _, fit_seconds = fit_model(model_path, args.imputation_samples)
        if args.resume and fit_path.exists():
            fit_seconds = json.loads(fit_path.read_text())["fit_seconds"]
        else:
            fit_path.write_text(json.dumps({"fit_seconds": fit_seconds}) + "\n")
        for mode, n_rows in cases:
            suffix = "" if args.imputation_samples == 1000 else f"_L{args.imputation_samples}"
            path = raw / f"{mode}_{n_rows}{suffix}.json"
            if args.resume and path.exists():
                records.append(json.loads(path.read_text()))
                continue
            record = measure_case(mode, n_rows, model_path, work_dir, args.chunk_size)
            path.write_text(json.dumps(record, indent=1) + "\n")
            print(path.name, {k: v for k, v in record.items() if k != "machine"}, flush=True)
            records.append(record)
            _write_report(records, fit_seconds, out_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(_write_report(records, fit_seconds, out_dir))
    return 0


def _write_report(records, fit_seconds, out_dir):
    text = to_markdown(records, fit_seconds)
    (Path(out_dir) / "memory.md").write_text(text)
    import pandas as pd

    pd.DataFrame.from_records(records).to_csv(Path(out_dir) / "memory.csv", index=False)
    return text


if __name__ == "__main__":
    sys.exit(main())
