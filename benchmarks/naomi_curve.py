"""NAOMI's and SingleRes's error on the missing steps after every epoch of their training.

``python -m benchmarks.naomi_curve --profile quick|medium|large [--methods ...]
[--extra-epochs N] [--resume]``
trains each model of :mod:`benchmarks.naomi` (``NAOMI``, ``SingleRes``) on the profile's
billiards sequences one epoch per ``partial_fit`` call, on the schedule of ``fit`` (teacher
forcing for the first epochs, then free running), and after every epoch imputes the test
sequences of the imputation task (180 to 195 of 200 steps missing, the paper's figure 4). It
records, per epoch: the training stage, the training loss, the mean squared error on the
missing values (L2 missing), the average step-size change of the imputed paths and the
training time so far.

The curves tell a budget that is still short (the error still falling at the last epoch)
from a model that has stopped improving, and show what each stage does to the error; the
authors' code also keeps the epoch with the lowest error on its evaluation set, which the
curve shows against the last epoch. ``--extra-epochs N`` trains N more free-running epochs
after the profile's (the model is then named ``NAOMI+N``): whether a longer last stage would
still lower the error.

One JSON file per (profile, model, seed) under ``results/raw/naomi_curve/<profile>/``;
``--resume`` reads those already there. The report, ``results/naomi_curve_<profile>.md`` with
a plot ``naomi_curve_<profile>.png``, shows every model of the profile and seed run so far.
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from benchmarks._runner import RESULTS_DIR, cached_record, machine_description
from benchmarks.naomi import PROFILES, billiards, make_model, missing_range
from skimpute.ampute import sequence_steps
from skimpute.metrics import step_change

#: the models whose training is followed
METHODS = ("NAOMI", "SingleRes")


def run_curve(profile, method, seed, extra_epochs=0):
    """Train `method` epoch by epoch and measure it after each; return the record.

    Parameters
    ----------
    profile : benchmarks.naomi.Profile
    method : {"NAOMI", "SingleRes"}
    seed : int
    extra_epochs : int, default=0
        Epochs trained after the profile's ``max_epochs``, in the last stage of the schedule
        (free running): whether more of it would still help.

    Returns
    -------
    record : dict
        ``epochs``: per epoch ``epoch`` (1, 2, ...), ``stage``, ``train_loss``,
        ``l2_missing``, ``step_change`` and ``seconds`` (training time so far); and the
        truth's ``step_change_truth``.
    """
    X_train, X_test = billiards(profile, seed)
    X_missing, mask = sequence_steps(X_test, missing_range(profile), random_state=seed)
    model = make_model(method, profile, seed)
    rows, seconds = [], 0.0
    total = model.max_epochs + extra_epochs
    for _ in range(total):
        start = time.perf_counter()
        model.partial_fit(X_train)
        seconds += time.perf_counter() - start
        X_hat = model.transform(X_missing)
        last = model.net_.history[-1]
        rows.append(
            {
                "epoch": int(model.n_epochs_),
                "stage": last["stage"],
                "train_loss": float(last["train_loss"]),
                "l2_missing": float(np.mean((X_hat - X_test)[~mask] ** 2)),
                "step_change": float(np.mean(step_change(X_hat))),
                "seconds": seconds,
            }
        )
        print(
            f"  {method} (seed {seed}): epoch {rows[-1]['epoch']}/{total} "
            f"({rows[-1]['stage']}), L2 missing {rows[-1]['l2_missing']:.4f}, {seconds:.0f} s",
            flush=True,
        )
    return {
        "profile": profile.name,
        "method": _name(method, extra_epochs),
        "seed": seed,
        "max_epochs": model.max_epochs,
        "extra_epochs": extra_epochs,
        "epochs": rows,
        "step_change_truth": float(np.mean(step_change(X_test))),
        "machine": machine_description(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _best(record):
    return min(record["epochs"], key=lambda row: row["l2_missing"])


def report_text(records):
    """The markdown report of the records of one profile: one column pair per method."""
    first = records[0]
    n_epochs = max(len(rec["epochs"]) for rec in records)
    lines = [
        f"# NAOMI and SingleRes epoch by epoch (profile `{first['profile']}`)",
        "",
        "Written by `python -m benchmarks.naomi_curve` (see its docstring). Billiards as in "
        f"`naomi_billiards_{first['profile']}.md`, the imputation task (180 to 195 of 200 steps "
        f"missing), seed {first['seed']}; after each training epoch: the mean squared error on "
        "the missing values (L2) and the average step-size change (1e-3; the truth's "
        f"{first['step_change_truth'] * 1e3:.2f}e-3). TF: a teacher-forced epoch, FR: a "
        "free-running one.",
        "",
        f"Machine: {first['machine']}.",
        "",
        "| method | last epoch: L2 | step change | lowest L2 (epoch) | training s |",
        "|---|---|---|---|---|",
    ]
    for rec in records:
        last, best = rec["epochs"][-1], _best(rec)
        lines.append(
            f"| {rec['method']} | {last['l2_missing']:.4f} | {last['step_change'] * 1e3:.1f} | "
            f"{best['l2_missing']:.4f} ({best['epoch']}) | {last['seconds']:.0f} |"
        )
    lines += [
        "",
        "| epoch | " + " | ".join(f"{rec['method']}: L2 / step change" for rec in records) + " |",
    ]
    lines.append("|---|" + "---|" * len(records))
    short = {"teacher_forcing": "TF", "free_running": "FR", "adversarial": "adv."}
    for epoch in range(1, n_epochs + 1):
        cells = []
        for rec in records:
            row = next((r for r in rec["epochs"] if r["epoch"] == epoch), None)
            cells.append(
                "–"
                if row is None
                else f"{row['l2_missing']:.4f} / {row['step_change'] * 1e3:.1f} "
                f"({short.get(row['stage'], row['stage'])})"
            )
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    lines += ["", f"![curves](naomi_curve_{first['profile']}.png)"]
    return "\n".join(lines) + "\n"


def plot(records, path):
    """L2 on the missing steps and the step change against the epoch, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for rec in records:
        epochs = [row["epoch"] for row in rec["epochs"]]
        axes[0].plot(epochs, [row["l2_missing"] for row in rec["epochs"]], label=rec["method"])
        axes[1].plot(epochs, [row["step_change"] * 1e3 for row in rec["epochs"]])
    axes[1].axhline(records[0]["step_change_truth"] * 1e3, color="k", lw=0.8, ls="--")
    axes[0].set(xlabel="epoch", ylabel="L2 on the missing steps", yscale="log")
    axes[1].set(xlabel="epoch", ylabel="step change (1e-3; dashed: truth)", yscale="log")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _name(method, extra_epochs):
    return method if not extra_epochs else f"{method}+{extra_epochs}"


def raw_path(out_dir, profile, method, seed):
    """Where the record of one (profile, method, seed) is stored."""
    return Path(out_dir) / "raw" / "naomi_curve" / profile / f"{method}__seed{seed}.json"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.naomi_curve")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--extra-epochs",
        type=int,
        default=0,
        help="free-running epochs after the profile's (the model is then named NAOMI+N)",
    )
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    profile = PROFILES[args.profile]
    for method in args.methods:
        cached_record(
            raw_path(args.out_dir, profile.name, _name(method, args.extra_epochs), args.seed),
            lambda: run_curve(profile, method, args.seed, args.extra_epochs),
            args.resume,
        )
    # the report shows every model of the profile and seed run so far, by name
    paths = raw_path(args.out_dir, profile.name, "*", args.seed)
    records = sorted(
        (json.loads(path.read_text()) for path in paths.parent.glob(paths.name)),
        key=lambda rec: (rec["method"].split("+")[0], rec.get("extra_epochs", 0)),
    )
    out = Path(args.out_dir)
    (out / f"naomi_curve_{profile.name}.md").write_text(report_text(records))
    plot(records, out / f"naomi_curve_{profile.name}.png")
    print(f"wrote {out / f'naomi_curve_{profile.name}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
