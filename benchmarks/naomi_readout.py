"""Where NAOMI's jitter comes from: how precisely its decoders place a step between neighbours.

``python -m benchmarks.naomi_readout --profile quick|medium|large [--variants ...] [--resume]``
fits NAOMI on billiards (the profiles of :mod:`benchmarks.naomi`) under a few training variants and
measures, on the test sequences:

- *decoder error*: each decoder ``g(r)`` (step size ``s = 2^r``) predicting ``x_{i+s}`` from the
  forward state ``F[i]`` and the backward state ``B[i + 2s]`` with every step known (teacher
  forcing), RMSE per coordinate, beside the error of the midpoint ``(x_i + x_{i+2s}) / 2`` of
  the two neighbours, which a straight path makes exact: a decoder that reads its neighbours
  from the GRU states as well as the data allow is at least as good as the midpoint;
- *the imputation task* of figure 4 (180 to 195 of 200 steps missing): the average step-size
  change at each point of the imputed paths, grouped by the decoder that imputed the point
  (``known``: an observed point), and the position error by decoder.

Variants:

- ``default``: the profile's training (NAOMI's masks, 80 % to all but one step hidden from the
  backward GRU; teacher forcing for two thirds of the epochs, then free running);
- ``interpolation``: every step known to the backward GRU in training (``train_mask=(0, 0)``),
  teacher forcing only: the decoders are trained for exactly the all-known task of the decoder
  error, so their error there is what the architecture reaches at this budget;
- ``interpolation-5x``: the same with five times the epochs;
- ``masks-50-100``, ``masks-0-100``: the default schedule with wider training masks, 50 % or
  none to all but one step hidden, so that the decoders see known right neighbours more often;
- ``lr-step``, ``masks-50-100-lr-step``: the authors' learning-rate schedule (the rate divided
  by 10 after half the epochs) on the default masks and on the wider ones;
- ``masks-50-100-tf90-2x``: the wider masks with twice the epochs, 90 % of them teacher-forced
  (a teacher-forced epoch costs about a tenth of a free-running one, so this costs about as
  much as the default schedule).
- ``resolutions-4``, ``resolutions-5``: the default training with fewer decoders, steps up to 8
  or 16 (``n_resolutions=4`` or ``5``) instead of 64: the authors' code defines decoders up to
  a step of 16 only, and uses up to 8 for basketball (``highest``); a longer gap starts with a
  pivot at the largest step.
- ``tf-33``: the default masks with a third of the epochs teacher-forced instead of two thirds
  (more epochs trained through the imputation itself, as Algorithm 1 of the paper; about 1.6
  times the cost at the medium budget);
- ``singleres``: the SingleRes baseline (``n_resolutions=1``) under the default training, its
  one decoder measured like NAOMI's; ``singleres-lr-step`` the same with the authors'
  learning-rate schedule;
- ``lr-step+20``, ``singleres+20``: ``lr-step`` and ``singleres`` trained on for 20 more
  free-running epochs (``partial_fit`` calls after the schedule, at its last learning rate),
  from the base variant's model or checkpoint: whether the free-running stage is what
  separates NAOMI from SingleRes at a budget.

``knn`` is not a variant but a reference: the KNN baseline of :mod:`benchmarks.naomi` on the same
test sequences and masks, measured on the imputation task only (``--variants knn``).

The imputation task is also broken down by the length of the gap each missing step is in (a
run of consecutive missing steps), which shows where one model gains on another.

``--profile large`` runs the variants at the ``large`` budget of :mod:`benchmarks.naomi`
(1500 training sequences, 30 epochs). ``--profile paper`` trains as the paper profile of
:mod:`benchmarks.naomi` does, one epoch per ``partial_fit`` call with a checkpoint after each,
in the same folder: ``default`` and ``singleres`` are the ``NAOMI`` and ``SingleRes`` models of
``benchmarks.naomi --profile paper`` (a checkpoint of either is read instead of trained again),
the other variants are checkpointed as ``readout-<variant>``.

One JSON file per (profile, variant, seed) under ``results/raw/naomi_readout/<profile>/``;
``--resume`` reads those already there; ``--seed`` picks the seed of the data, the masks and
the models. The report, ``results/naomi_readout_<profile>.md``, holds every variant and seed
stored for the profile; with more than one seed it starts with the imputation error of each
variant at each seed and their mean.
"""

import argparse
import copy
import functools
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from benchmarks._runner import RESULTS_DIR, cached_record, machine_description
from benchmarks._schedules import StepDecay
from benchmarks.naomi import (
    PROFILES,
    Models,
    _naomi,
    billiards,
    make_model,
    missing_range,
    models_dir,
)
from skimpute.ampute import sequence_steps
from skimpute.naomi import imputation_order

#: training variants: estimator parameters, and a factor on the profile's epochs
VARIANTS = {
    "default": ({}, 1),
    "interpolation": ({"train_mask": (0.0, 0.0), "teacher_forcing": 1.0}, 1),
    "interpolation-5x": ({"train_mask": (0.0, 0.0), "teacher_forcing": 1.0}, 5),
    "masks-50-100": ({"train_mask": (0.5, 1.0)}, 1),
    "masks-0-100": ({"train_mask": (0.0, 1.0)}, 1),
    "lr-step": ({"lr_step": True}, 1),
    "masks-50-100-lr-step": ({"train_mask": (0.5, 1.0), "lr_step": True}, 1),
    "masks-50-100-tf90-2x": ({"train_mask": (0.5, 1.0), "teacher_forcing": 0.9}, 2),
    "resolutions-4": ({"n_resolutions": 4}, 1),
    "resolutions-5": ({"n_resolutions": 5}, 1),
    "tf-33": ({"teacher_forcing": 1 / 3}, 1),
    "singleres": ({"n_resolutions": 1}, 1),
    "singleres-lr-step": ({"n_resolutions": 1, "lr_step": True}, 1),
}

#: variants that continue another's training with more free-running epochs: (base, epochs)
CONTINUED = {"lr-step+20": ("lr-step", 20), "singleres+20": ("singleres", 20)}
VARIANTS.update({name: VARIANTS[base] for name, (base, _) in CONTINUED.items()})

#: variants that are models of :mod:`benchmarks.naomi`, under their names there (checkpoints)
BENCHMARK_MODELS = {"default": "NAOMI", "singleres": "SingleRes"}

#: references that are not NAOMI, measured beside the variants on the imputation task: the
#: method of :mod:`benchmarks.naomi` of each
REFERENCES = {"knn": "KNN"}


def make_variant(profile, variant, seed):
    """The unfitted NAOMI of a training variant."""
    params, epochs = VARIANTS[variant]
    params = dict(params)
    profile = replace(
        profile,
        max_epochs=profile.max_epochs * epochs,
        teacher_forcing=params.pop("teacher_forcing", profile.teacher_forcing),
    )
    if params.pop("lr_step", False):
        params["callbacks"] = [StepDecay(profile.lr, max(1, profile.max_epochs // 2))]
    return _naomi(profile, seed, **params)


def decoder_errors(model, X):
    """Teacher-forced RMSE of each decoder with every step known, and of the midpoint.

    Parameters
    ----------
    model : fitted NAOMISequenceImputer
    X : ndarray of shape (n, T, 2)
        Complete sequences.

    Returns
    -------
    rows : list of dict
        Per decoder ``r``: ``level``, ``step`` (``s``), ``rmse`` (the decoder's prediction of
        ``x_{i+s}``, ``i = 0, ..., T - 2s - 1``, in the units of `X`) and ``midpoint_rmse``
        (``(x_i + x_{i+2s}) / 2``, the same steps).
    """
    module = model.net_.module_
    dtype = next(module.parameters()).dtype
    Z = torch.as_tensor((X - model.mean_) / model.scale_, dtype=dtype)
    T = Z.shape[1]
    known = torch.ones(Z.shape[:2], dtype=torch.bool)
    was_training = module.training
    module.eval()
    with torch.no_grad():
        predictions = module.level_predictions(Z, known, known)
    module.train(was_training)
    scale = np.asarray(model.scale_)
    rows = []
    for level, (mean, _) in enumerate(predictions):
        s = 2**level
        n = T - 2 * s  # i = 0, ..., T - 2s - 1 (both neighbours inside the sequence)
        if n < 1:
            continue
        pred = mean[:, 1 : n + 1].numpy() * scale + model.mean_
        target = X[:, s : s + n]
        midpoint = (X[:, :n] + X[:, 2 * s : 2 * s + n]) / 2
        rows.append(
            {
                "level": level,
                "step": s,
                "rmse": float(np.sqrt(np.mean((pred - target) ** 2))),
                "midpoint_rmse": float(np.sqrt(np.mean((midpoint - target) ** 2))),
            }
        )
    return rows


def step_levels(step_known, n_resolutions):
    """The decoder ``r`` that imputes each step, ``-1`` where the step is known.

    Parameters
    ----------
    step_known : ndarray of bool of shape (n, T)
    n_resolutions : int

    Returns
    -------
    levels : ndarray of int of shape (n, T)
    """
    levels = np.full(step_known.shape, -1)
    for i, known in enumerate(step_known):
        order, lv = imputation_order(known.tolist(), n_resolutions, return_levels=True)
        levels[i, order] = lv
    return levels


def jitter_by_level(X_imputed, X_true, levels):
    """Step-size change and position error of imputed paths, by the decoder of each point.

    The step-size change at point ``t`` (``0 < t < T - 1``) is
    ``| |x_{t+1} - x_t| - |x_t - x_{t-1}| |``; averaged over the points a decoder imputed it is
    the paper's average step-size change restricted to them.

    Returns
    -------
    rows : list of dict
        Per level (``-1``: known points): ``share`` of the inner points, ``step_change``,
        ``position_error`` (mean distance to the truth).
    """
    size = np.linalg.norm(np.diff(X_imputed, axis=1), axis=-1)
    change = np.abs(np.diff(size, axis=1))  # at points 1, ..., T - 2
    error = np.linalg.norm(X_imputed - X_true, axis=-1)
    inner = levels[:, 1:-1]
    rows = []
    for level in np.unique(levels):
        at = inner == level
        rows.append(
            {
                "level": int(level),
                "share": float(at.mean()),
                "step_change": float(change[at].mean()) if at.any() else None,
                "position_error": float(error[levels == level].mean()),
            }
        )
    return rows


#: bins of gap length (the run of consecutive missing steps a step is in): (low, high) inclusive
GAP_BINS = ((1, 8), (9, 16), (17, 32), (33, 64), (65, None))


def error_by_gap(X_imputed, X_true, step_known):
    """Squared error of the imputed steps by the length of the gap they are in.

    A gap is a maximal run of missing steps; a trailing run (no known step after it) counts as
    a gap too. The bins are :data:`GAP_BINS`.

    Parameters
    ----------
    X_imputed, X_true : ndarray of shape (n, T, D)
    step_known : ndarray of bool of shape (n, T)

    Returns
    -------
    rows : list of dict
        Per bin with missing steps: ``low``, ``high`` (None: no bound), ``share`` of the missing
        steps, ``l2`` (the mean squared error per value there, the units of ``l2_missing``).
    """
    gap = np.zeros(step_known.shape, dtype=int)
    for i, known in enumerate(step_known):
        t = 0
        while t < len(known):
            if known[t]:
                t += 1
                continue
            end = t
            while end < len(known) and not known[end]:
                end += 1
            gap[i, t:end] = end - t
            t = end
    error = ((X_imputed - X_true) ** 2).mean(-1)
    missing = ~step_known
    rows = []
    for low, high in GAP_BINS:
        at = missing & (gap >= low) & (gap <= (np.inf if high is None else high))
        if at.any():
            rows.append(
                {
                    "low": low,
                    "high": high,
                    "share": float(at.sum() / missing.sum()),
                    "l2": float(error[at].mean()),
                }
            )
    return rows


def fit_variant(profile, variant, seed, X_train, out_dir=RESULTS_DIR):
    """Fit a variant on `X_train`; return ``(model, training seconds)``.

    A profile with ``checkpoint`` (the paper's) trains one epoch at a time with a checkpoint
    after each, with :class:`benchmarks.naomi.Models` and its folder, so that ``default`` and
    ``singleres`` are read back from the checkpoints of ``benchmarks.naomi``'s NAOMI and
    SingleRes when they are there.
    """
    if variant in CONTINUED:
        return continue_variant(profile, variant, seed, X_train, out_dir)
    factory = functools.partial(make_variant, profile, variant, seed)
    if not profile.checkpoint:
        model = factory()
        start = time.perf_counter()
        model.fit(X_train)
        return model, time.perf_counter() - start
    models = Models(profile, functools.partial(print, flush=True), models_dir(out_dir, profile))
    name = BENCHMARK_MODELS.get(variant, f"readout-{variant}")
    return models.get(name, seed, X_train, factory=factory)


def continue_variant(profile, variant, seed, X_train, out_dir=RESULTS_DIR):
    """Fit a variant of CONTINUED: its base (:func:`fit_variant`), then more epochs.

    The extra epochs are ``partial_fit`` calls after the base's schedule, so free-running at
    the base's last learning rate; with ``checkpoint`` they are checkpointed under the
    variant's own name, from the base's checkpoint. Returns ``(model, training seconds)``,
    the base's included.
    """
    base, extra = CONTINUED[variant]
    model, base_seconds = fit_variant(profile, base, seed, X_train, out_dir)
    epochs = model.n_epochs_ + extra
    if profile.checkpoint:
        models = Models(profile, functools.partial(print, flush=True), models_dir(out_dir, profile))
        model = copy.deepcopy(model)  # the base's model stays as it was trained
        model, seconds = models.get(f"readout-{variant}", seed, X_train, lambda: model, epochs)
        return model, base_seconds + seconds
    model = copy.deepcopy(model)
    start = time.perf_counter()
    while model.n_epochs_ < epochs:
        model.partial_fit(X_train)
    return model, base_seconds + time.perf_counter() - start


def run_variant(profile, variant, seed, out_dir=RESULTS_DIR):
    """Fit one variant (:func:`fit_variant`) and measure it; return the record.

    A reference of :data:`REFERENCES` is fitted as in :mod:`benchmarks.naomi` and measured on
    the imputation task only (no decoders: ``decoder_errors`` and ``by_level`` are empty).
    """
    X_train, X_test = billiards(profile, seed)
    neural = variant not in REFERENCES
    if neural:
        model, fit_seconds = fit_variant(profile, variant, seed, X_train, out_dir)
    else:
        model = make_model(REFERENCES[variant], profile, seed)
        start = time.perf_counter()
        model.fit(X_train)
        fit_seconds = time.perf_counter() - start
    X_missing, mask = sequence_steps(X_test, missing_range(profile), random_state=seed)
    X_hat = model.transform(X_missing)
    truth = np.abs(np.diff(np.linalg.norm(np.diff(X_test, axis=1), axis=-1), axis=1)).mean()
    by_level = []
    if neural:
        levels = step_levels(mask.all(-1), model.net_.module_.n_resolutions)
        by_level = jitter_by_level(X_hat, X_test, levels)
    return {
        "profile": profile.name,
        "variant": variant,
        "seed": seed,
        "max_epochs": model.n_epochs_ if neural else None,
        "fit_seconds": fit_seconds,
        "decoder_errors": decoder_errors(model, X_test) if neural else [],
        "l2_missing": float(np.mean((X_hat - X_test)[~mask] ** 2)),
        "step_change": float(
            np.abs(np.diff(np.linalg.norm(np.diff(X_hat, axis=1), axis=-1), axis=1)).mean()
        ),
        "step_change_truth": float(truth),
        "step_size_truth": float(np.linalg.norm(np.diff(X_test, axis=1), axis=-1).mean()),
        "by_level": by_level,
        "by_gap": error_by_gap(X_hat, X_test, mask.all(-1)),
        "machine": machine_description(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _seed_summary(records):
    """Lines of the table of the imputation error per variant across seeds (several seeds)."""
    seeds = sorted({rec["seed"] for rec in records})
    by_variant = {}
    for rec in records:
        by_variant.setdefault(rec["variant"], {})[rec["seed"]] = rec
    lines = [
        "## The imputation task across seeds",
        "",
        "L2 on the missing steps and step change (1e-3) of each seed's model; the mean over the "
        "seeds a variant was run with.",
        "",
        "| variant | " + " | ".join(f"L2, seed {s}" for s in seeds) + " | mean L2 | "
        "mean step change (1e-3) |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for variant, runs in by_variant.items():
        cells = [f"{runs[s]['l2_missing']:.4f}" if s in runs else "–" for s in seeds]
        l2 = np.mean([rec["l2_missing"] for rec in runs.values()])
        change = np.mean([rec["step_change"] for rec in runs.values()]) * 1e3
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {l2:.4f} | {change:.1f} |")
    return lines + [""]


def report_text(records):
    """The markdown report of the records of one profile, of one seed or several.

    With several seeds, a table of the imputation error of each variant across the seeds
    comes first; the tables of the decoders have one row per (variant, seed).
    """
    first = records[0]
    seeds = sorted({rec["seed"] for rec in records})
    truth = {rec["seed"]: rec for rec in records}
    lines = [
        f"# NAOMI's decoders: precision and jitter (profile `{first['profile']}`)",
        "",
        "Written by `python -m benchmarks.naomi_readout` (see its docstring for the method). "
        f"Billiards as in `naomi_billiards_{first['profile']}.md`; "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}. The true paths: "
        + "; ".join(
            f"{f'seed {s}: ' if len(seeds) > 1 else ''}mean step size "
            f"{truth[s]['step_size_truth'] * 1e3:.1f}e-3, "
            f"step-size change {truth[s]['step_change_truth'] * 1e3:.2f}e-3"
            for s in seeds
        )
        + ".",
        "",
        f"Machine: {first['machine']}.",
        "",
    ]
    if len(seeds) > 1:
        lines += _seed_summary(records)
    lines += [
        "## Decoder error with every step known (teacher forcing), RMSE per coordinate",
        "",
        "`midpoint`: (x_i + x_{i+2s}) / 2, exact on a straight path.",
        "",
    ]
    # the variants may have different decoders: one column per step size of any of them
    # the midpoint's error depends on the seed's test sequences only: one row per seed
    midpoints = {}
    for rec in records:
        midpoints.setdefault(rec["seed"], {}).update(
            {row["step"]: row["midpoint_rmse"] for row in rec["decoder_errors"]}
        )
    levels = sorted({step for by_step in midpoints.values() for step in by_step})
    lines.append("| variant | seed | epochs | " + " | ".join(f"s = {s}" for s in levels) + " |")
    lines.append("|---|---|---|" + "---|" * len(levels))
    for seed, by_step in sorted(midpoints.items()):
        if by_step:
            mid = " | ".join(f"{by_step[s]:.4f}" if s in by_step else "–" for s in levels)
            lines.append(f"| midpoint | {seed} | – | {mid} |")
    for rec in records:
        if not rec["decoder_errors"]:  # a reference without decoders
            continue
        rmse = {row["step"]: row["rmse"] for row in rec["decoder_errors"]}
        errs = " | ".join(f"{rmse[s]:.4f}" if s in rmse else "–" for s in levels)
        lines.append(f"| {rec['variant']} | {rec['seed']} | {rec['max_epochs']} | {errs} |")
    lines += [
        "",
        "## The imputation task (180 to 195 of 200 steps missing), by the decoder of each point",
        "",
        "Step change: the average step-size change at the points imputed by that decoder "
        "(1e-3); error: their mean distance to the truth. `known`: observed points.",
        "",
        "| variant | seed | L2 missing | step change, all (1e-3) | by decoder: step change "
        "(1e-3) / error / share of points | fit s |",
        "|---|---|---|---|---|---|",
    ]
    for rec in records:
        parts = []
        for row in rec["by_level"]:
            name = "known" if row["level"] < 0 else f"s={2 ** row['level']}"
            sc = "–" if row["step_change"] is None else f"{row['step_change'] * 1e3:.1f}"
            parts.append(f"{name}: {sc} / {row['position_error']:.3f} / {row['share']:.0%}")
        lines.append(
            f"| {rec['variant']} | {rec['seed']} | {rec['l2_missing']:.4f} | "
            f"{rec['step_change'] * 1e3:.1f} | "
            + "; ".join(parts)
            + f" | {rec['fit_seconds']:.0f} |"
        )
    with_gaps = [rec for rec in records if rec.get("by_gap")]  # records before it lack it
    if with_gaps:
        lines += _gap_table(with_gaps)
    return "\n".join(lines) + "\n"


def _gap_label(low, high):
    return f"{low}+" if high is None else f"{low}-{high}"


def _gap_table(records):
    """Lines of the table of the imputation error by gap length (:func:`error_by_gap`)."""
    labels = [_gap_label(low, high) for low, high in GAP_BINS]
    lines = [
        "",
        "## The imputation task by gap length",
        "",
        "Mean squared error per value of the missing steps, by the length of the run of missing "
        "steps each is in (share of the missing steps in brackets).",
        "",
        "| variant | seed | " + " | ".join(f"gap {label}" for label in labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for rec in records:
        rows = {_gap_label(row["low"], row["high"]): row for row in rec["by_gap"]}
        cells = [
            f"{rows[label]['l2']:.4f} ({rows[label]['share']:.0%})" if label in rows else "–"
            for label in labels
        ]
        lines.append(f"| {rec['variant']} | {rec['seed']} | " + " | ".join(cells) + " |")
    return lines


def raw_path(out_dir, profile, variant, seed):
    """Where the record of one (profile, variant, seed) is stored."""
    return Path(out_dir) / "raw" / "naomi_readout" / profile / f"{variant}__seed{seed}.json"


def stored_records(out_dir, profile, seed=None):
    """The records stored for `profile`: by variant (VARIANTS, then REFERENCES), then by seed.

    The report is written from these, so that a run of some variants or seeds keeps the
    others' rows. `seed` restricts them to one seed; None (the default) keeps every seed.
    """
    folder = raw_path(out_dir, profile, "default", 0).parent
    records = []
    for variant in [*VARIANTS, *REFERENCES]:
        pattern = f"{variant}__seed{'*' if seed is None else seed}.json"
        found = [json.loads(path.read_text()) for path in folder.glob(pattern)]
        records += sorted(found, key=lambda rec: rec["seed"])
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.naomi_readout", description=__doc__)
    parser.add_argument("--profile", choices=("quick", "medium", "large", "paper"), default="quick")
    parser.add_argument(
        "--variants", nargs="+", choices=sorted([*VARIANTS, *REFERENCES]), default=list(VARIANTS)
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    profile = PROFILES[args.profile]
    for variant in args.variants:
        record = cached_record(
            raw_path(args.out_dir, profile.name, variant, args.seed),
            lambda: run_variant(profile, variant, args.seed, args.out_dir),
            args.resume,
        )
        print(f"naomi_readout {profile.name} {variant}: {record['fit_seconds']:.0f} s", flush=True)
    out = Path(args.out_dir) / f"naomi_readout_{profile.name}.md"
    out.write_text(report_text(stored_records(args.out_dir, profile.name)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
