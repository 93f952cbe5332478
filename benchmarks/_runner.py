"""Run a suite: one raw JSON result per dataset, method and seed, then the tables."""

import json
import os
import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks._data import make_task, parse_task
from benchmarks._measure import measure
from benchmarks._methods import METHODS
from skimpute.metrics import mae_missing, mask_accuracy, rmse_missing

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_description():
    """One line naming the machine: CPU model, cores, OS and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import sklearn

    parts = [
        f"{cpu}, {os.cpu_count()} cores",
        f"{platform.system()} {platform.machine()}",
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scikit-learn {sklearn.__version__}",
    ]
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return "; ".join(parts)


def raw_path(out_dir, suite, dataset, method, seed):
    """Where the raw result of one (dataset, method, seed) cell is stored."""
    return Path(out_dir) / "raw" / suite.name / dataset / f"{method}__seed{seed}.json"


def cached_record(path, compute, resume):
    """The JSON record at `path` when `resume` and it exists, else ``compute()``, then saved.

    Parameters
    ----------
    path : pathlib.Path
        The record's file (its folders are created).
    compute : callable
        Returns the record, a dict that :func:`json.dumps` takes.
    resume : bool
        Whether a record already at `path` is read instead of computed again.

    Returns
    -------
    record : dict
    """
    if resume and path.exists():
        return json.loads(path.read_text())
    record = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def run_cell(suite, dataset, method, seed, data_home=None):
    """Fit and transform one method on one dataset and seed; return the result record."""
    X, X_missing, mask = make_task(dataset, seed=seed, data_home=data_home, p=suite.p)
    estimator = METHODS[method](seed, X.shape[0])
    params = estimator.get_params()
    estimator.set_params(**{k: v for k, v in suite.method_params.items() if k in params})
    with warnings.catch_warnings():
        # MICE's convergence warning is expected at its default max_iter; it is not an error.
        warnings.simplefilter("ignore", category=Warning)
        with measure() as fit_m:
            estimator.fit(X_missing)
        with measure() as transform_m:
            X_hat = estimator.transform(X_missing)
    X_hat = np.asarray(X_hat)
    if np.isnan(X_hat).any():
        raise RuntimeError(f"{method} left NaN in its output on {dataset}, seed {seed}")
    if not np.array_equal(X_hat[mask], X_missing[mask]):
        raise RuntimeError(f"{method} changed observed entries on {dataset}, seed {seed}")
    accuracy = None
    if hasattr(estimator, "predict_mask_proba"):
        # GNR's Table 3: the reconstructed mask, on the features that have missing values.
        proba = estimator.predict_mask_proba(X_missing)
        accuracy = float(mask_accuracy(mask, proba, columns="missing"))
    return {
        "suite": suite.name,
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "p": parse_task(dataset)[1] or suite.p,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "missing_fraction": float(1 - mask.mean()),
        "rmse": float(rmse_missing(X, X_hat, mask)),
        "mae": float(mae_missing(X, X_hat, mask)),
        "mask_accuracy": accuracy,
        "fit_seconds": fit_m.seconds,
        "transform_seconds": transform_m.seconds,
        "peak_mb": max(fit_m.peak_mb, transform_m.peak_mb),
        "machine": machine_description(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_suite(
    suite,
    profile="quick",
    *,
    datasets=None,
    methods=None,
    n_seeds=None,
    resume=False,
    report_only=False,
    out_dir=RESULTS_DIR,
    data_home=None,
    log=print,
):
    """Run every (dataset, method, seed) cell of a suite and return the records.

    With ``resume=True`` a cell whose raw JSON file already exists is read back instead of run,
    so an interrupted suite picks up where it stopped. With ``report_only=True`` nothing is run:
    the cells that have a raw file are read back and the others left out.
    """
    datasets = tuple(datasets or suite.datasets[profile])
    methods = tuple(methods or suite.methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {sorted(METHODS)}")
    seeds = range(n_seeds if n_seeds is not None else suite.n_seeds[profile])
    records = []
    for dataset in datasets:
        for seed in seeds:
            for method in methods:
                path = raw_path(out_dir, suite, dataset, method, seed)
                if (resume or report_only) and path.exists():
                    records.append(json.loads(path.read_text()))
                    continue
                if report_only:
                    continue
                record = run_cell(suite, dataset, method, seed, data_home=data_home)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(record, indent=1) + "\n")
                log(
                    f"{suite.name} {dataset} seed {seed} {method}: RMSE {record['rmse']:.3f}, "
                    f"fit {record['fit_seconds']:.1f} s"
                )
                records.append(record)
    return records
