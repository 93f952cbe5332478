"""Speed of the neural imputers: skorch's training loop against a plain torch loop, transform.

``python -m benchmarks.speed [--models NotMIWAE ...] [--batch-sizes 16 128 512]`` writes
``results/speed.md`` and ``results/speed.csv``, and one raw JSON file per measurement under
``results/raw/speed/`` (``--resume`` reuses them).

Training: seconds per epoch of ``estimator.fit`` (skorch, whole batches fed by
:class:`skimpute._base.BatchIterator`) and of a plain torch loop that builds the same module with
the same arguments and takes the same Adam steps on the same batches; their ratio is skorch's
overhead. Transform: seconds and peak resident memory of ``transform`` on ``--transform-rows``
rows with ``L = 1000`` importance samples. The data: a Gaussian with a rank-5 covariance in 30
columns (the size of breast cancer), the first 15 columns self-masked above their mean.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._measure import measure
from benchmarks._runner import RESULTS_DIR, machine_description
from skimpute import GNRImputer, NotMIWAEImputer
from skimpute._base import observed_mask
from skimpute.ampute import mnar_self_masking

#: The estimators measured, by name, with small-but-real settings (the defaults otherwise).
MODELS = {
    "NotMIWAE": lambda **kw: NotMIWAEImputer(missing_model="selfmasking_known", **kw),
    "MIWAE": lambda **kw: NotMIWAEImputer(missing_model=None, **kw),
    "GNR": lambda **kw: GNRImputer(**kw),
}


def make_data(n_samples, n_features=30, rank=5, seed=0):
    """Low-rank Gaussian data, standardised, first half self-masked above the mean.

    Returns ``(X_complete, X_missing)``, each of shape (n_samples, n_features).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, rank)) @ rng.normal(size=(rank, n_features))
    X += 0.3 * rng.normal(size=X.shape)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X_missing, _ = mnar_self_masking(X, columns=range(n_features // 2), p=1.0, random_state=seed)
    return X, X_missing


def skorch_seconds_per_epoch(estimator, X_missing, n_epochs):
    """Fit with skorch for `n_epochs` epochs; the median epoch duration from its history."""
    estimator.set_params(max_epochs=n_epochs)
    estimator.fit(X_missing)
    durations = estimator.net_.history[:, "dur"]
    return float(np.median(durations[1:] if len(durations) > 1 else durations))


def plain_seconds_per_epoch(estimator, X_missing, n_epochs, seed=0):
    """The same module, optimiser and batches in a hand-written torch loop.

    The module is built from the estimator's own hooks, the data standardised as ``fit`` does;
    returns the median epoch duration (the first epoch left out, as for skorch).
    """
    mask = observed_mask(X_missing)
    mean = np.nanmean(X_missing, axis=0)
    std = np.nanstd(X_missing, axis=0)
    X = torch.as_tensor(np.where(mask, (X_missing - mean) / std, 0.0), dtype=torch.float32)
    M = torch.as_tensor(mask, dtype=torch.float32)
    torch.manual_seed(seed)
    params = estimator._module_params(X.shape[1], mask.mean(axis=0))
    module = estimator._module_class()(**params)
    criterion = estimator._criterion_class()()
    optimizer = torch.optim.Adam(module.parameters(), lr=estimator.lr)
    batch_size = estimator.batch_size
    durations = []
    for _ in range(n_epochs):
        t0 = time.perf_counter()
        order = torch.randperm(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            rows = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = criterion(module(X[rows], M[rows]))
            loss.backward()
            optimizer.step()
        durations.append(time.perf_counter() - t0)
    return float(np.median(durations[1:] if len(durations) > 1 else durations))


def measure_training(model, batch_size, n_rows, n_epochs):
    """One training measurement: skorch and plain seconds per epoch at one batch size."""
    _, X_missing = make_data(n_rows)
    estimator = MODELS[model](batch_size=batch_size, random_state=0)
    plain = plain_seconds_per_epoch(estimator, X_missing, n_epochs)
    skorch_s = skorch_seconds_per_epoch(estimator, X_missing, n_epochs)
    return {
        "kind": "train",
        "model": model,
        "batch_size": batch_size,
        "n_rows": n_rows,
        "n_epochs": n_epochs,
        "skorch_s_per_epoch": skorch_s,
        "plain_s_per_epoch": plain,
        "overhead": skorch_s / plain,
        "ms_per_step_skorch": 1000 * skorch_s / int(np.ceil(n_rows / batch_size)),
    }


def measure_transform(model, n_rows, n_train=1000, n_epochs=2, n_imputation_samples=1000):
    """One transform measurement: seconds and peak MiB for `n_rows` rows at ``L`` samples."""
    _, X_train = make_data(n_train, seed=1)
    _, X_missing = make_data(n_rows, seed=2)
    estimator = MODELS[model](
        max_epochs=n_epochs, n_imputation_samples=n_imputation_samples, random_state=0
    ).fit(X_train)
    with measure() as m:
        estimator.transform(X_missing)
    return {
        "kind": "transform",
        "model": model,
        "n_rows": n_rows,
        "n_imputation_samples": n_imputation_samples,
        "transform_s": m.seconds,
        "rows_per_s": n_rows / m.seconds,
        "peak_mb": m.peak_mb,
    }


def to_markdown(records, machine):
    """The speed page: the training table, then the transform table."""
    lines = [
        "# Speed of the neural imputers",
        "",
        f"Machine: {machine}.",
        "",
        "Training: median seconds per epoch (first epoch left out) of `fit` through skorch and "
        "of a plain torch loop over the same module, optimiser and batches; overhead = skorch / "
        "plain. Data: 30 columns, the first 15 self-masked above their mean.",
        "",
        "| model | batch size | rows | epochs | skorch s/epoch | plain s/epoch | overhead "
        "| skorch ms/step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["kind"] == "train":
            lines.append(
                f"| {r['model']} | {r['batch_size']} | {r['n_rows']} | {r['n_epochs']} | "
                f"{r['skorch_s_per_epoch']:.3f} | {r['plain_s_per_epoch']:.3f} | "
                f"{r['overhead']:.2f} | {r['ms_per_step_skorch']:.2f} |"
            )
    lines += [
        "",
        "Transform: seconds and peak resident memory above the level before the call.",
        "",
        "| model | rows | L | seconds | rows/s | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["kind"] == "transform":
            lines.append(
                f"| {r['model']} | {r['n_rows']} | {r['n_imputation_samples']} | "
                f"{r['transform_s']:.2f} | {r['rows_per_s']:.0f} | {r['peak_mb']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 128, 512])
    parser.add_argument("--train-rows", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--transform-rows", type=int, default=5000)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)

    out_dir = Path(args.out_dir)
    raw = out_dir / "raw" / "speed"
    raw.mkdir(parents=True, exist_ok=True)
    machine = machine_description()
    jobs = []
    for model in args.models:
        for batch_size in args.batch_sizes:
            jobs.append(
                (
                    f"{model}__train_b{batch_size}.json",
                    lambda m=model, b=batch_size: measure_training(
                        m, b, args.train_rows, args.epochs
                    ),
                )
            )
        jobs.append(
            (
                f"{model}__transform_{args.transform_rows}.json",
                lambda m=model: measure_transform(m, args.transform_rows),
            )
        )
    records = []
    for name, job in jobs:
        path = raw / name
        if args.resume and path.exists():
            records.append(json.loads(path.read_text()))
            continue
        record = job()
        record["machine"] = machine
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(name, {k: v for k, v in record.items() if k != "machine"}, flush=True)
        records.append(record)
    text = to_markdown(records, machine)
    (out_dir / "speed.md").write_text(text)
    import pandas as pd

    pd.DataFrame.from_records(records).to_csv(out_dir / "speed.csv", index=False)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
