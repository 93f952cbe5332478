"""NAOMI on billiards: the paper's figure 4, Table 1, figures 5 and 8, speed, adversarial stage.

``python -m benchmarks.naomi --profile quick|medium|large|paper [--resume] [--experiments ...]
[--methods ...] [--report-only]`` runs

- ``imputation`` (figure 4): billiards test sequences with 180 to 195 of 200 steps missing,
  imputed by NAOMI, SingleRes (NAOMI with one resolution), the autoregressive GRU (``RNN``),
  KNN over the training sequences and linear interpolation; the trajectory statistics of the
  imputations (sinuosity, average step-size change, distance between reflection points and the
  wall, path length, out-of-bounds rate; mean and 5/95 percentiles over sequences) beside those
  of the ground truth, and the L2 loss on the missing steps;
- ``forward`` (Table 1): only the first step known; NAOMI and SingleRes trained with forward
  masks, the RNN as it is; against ``../shared/paper_results/naomi_table1_billiards_forward.csv``;
- ``fraction`` (figure 8): NAOMI and SingleRes against the fraction of missing steps;
- ``speed``: sequences per second of NAOMI's imputation of 1000 sequences of 200 steps, against a
  naive version that re-runs both GRUs over the whole sequence after each imputed step;
- ``adversarial``: stochastic random-walk agents; the step statistics of sampled imputations of a
  pretrained stochastic NAOMI and of the same after the adversarial stage, beside the truth.

Each (experiment, method, setting, seed) cell writes one JSON file under
``results/raw/naomi/<profile>/<experiment>/``; ``--resume`` reads the cells already there instead
of running them (the models are trained only for cells that run). The report is written to
``results/naomi_billiards.md`` and ``.csv`` (``naomi_billiards_<profile>`` for profiles other than
quick), with the plots ``naomi_trajectories.png`` (figure 5: truth, known points, NAOMI,
SingleRes) and ``naomi_fraction_missing.png`` (figure 8) when matplotlib is installed.

The paper profile trains for hours: its neural models are trained one epoch per
``partial_fit`` call and pickled after each epoch under ``results/raw/naomi/paper/models/``
(not committed), so that ``--resume`` continues a stopped training from its last epoch.
``--methods NAOMI`` (for example) runs only the cells of those methods and writes no report, so
that two processes can share the cells; ``--report-only`` writes the report of the cells on disk
and runs none.

The billiards simulator's settings are not published (see :func:`skimpute.datasets.make_billiards`)
and the quick profile trains for seconds, so the numbers are not the paper's; they show the
machinery and the trends.
"""

import argparse
import functools
import inspect
import json
import pickle
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks._measure import measure
from benchmarks._report import paper_results_dir
from benchmarks._runner import RESULTS_DIR, machine_description
from skimpute import NAOMISequenceImputer
from skimpute.ampute import sequence_steps
from skimpute.baselines import (
    AutoregressiveGRUImputer,
    KNNSequenceImputer,
    LinearInterpolationImputer,
)
from skimpute.datasets import make_billiards
from skimpute.datasets._billiards import _paths, _velocities
from skimpute.metrics import (
    l2_missing,
    out_of_bounds_rate,
    path_length,
    reflection_distance,
    sinuosity,
    step_change,
)

EXPERIMENTS = ("imputation", "forward", "fraction", "speed", "adversarial")
IMPUTATION_METHODS = ("NAOMI", "SingleRes", "RNN", "KNN", "Linear", "GroundTruth")
FORWARD_METHODS = ("NAOMI", "SingleRes", "RNN", "ConditionalMean", "GroundTruth")
FRACTION_METHODS = ("NAOMI", "SingleRes", "GroundTruth")
ADVERSARIAL_METHODS = ("pretrained", "adversarial", "GroundTruth")
#: Monte Carlo draws of the velocity per test sequence for the ``ConditionalMean`` floor
FLOOR_DRAWS = 2000
#: our method names -> the rows of the paper's Table 1
TABLE1_ROWS = {"RNN": "RNN", "SingleRes": "SingleRes", "NAOMI": "NAOMI", "GroundTruth": "Expert"}
TABLE1_FILE = "naomi_table1_billiards_forward.csv"


@dataclass(frozen=True)
class Profile:
    """Sizes and training budgets of a run."""

    name: str
    n_train: int
    n_test: int
    n_timesteps: int = 200
    n_seeds: int = 1
    missing: tuple = (180, 195)
    fractions: tuple = (0.5, 0.8, 0.9, 0.95)
    rnn_size: int = 64
    hidden: int = 64
    max_epochs: int = 6
    batch_size: int = 32
    lr: float = 3e-3
    teacher_forcing: float = 2 / 3
    n_neighbors: int = 5
    speed_sequences: int = 1000
    naive_sequences: int = 20
    walk: dict = field(default_factory=dict)
    #: train the neural models one epoch at a time, with a checkpoint after each (see Models)
    checkpoint: bool = False


PROFILES = {
    "quick": Profile(
        name="quick",
        n_train=256,
        n_test=100,
        walk=dict(
            n_train=256,
            n_test=64,
            n_timesteps=50,
            max_epochs=10,
            adversarial_epochs=8,
            lr=3e-3,
            adversarial_lr=3e-4,
            discriminator_lr=1e-2,
        ),
    ),
    # what one CPU core trains in about 45 minutes a seed: 20 epochs on 500 sequences (a NAOMI
    # epoch costs about 0.08 s a sequence with teacher forcing 2/3: its own imputations are
    # sequential); three seeds
    "medium": Profile(
        name="medium",
        n_train=500,
        n_test=300,
        n_seeds=3,
        max_epochs=20,
        lr=2e-3,
        naive_sequences=20,
        walk=dict(
            n_train=500,
            n_test=200,
            n_timesteps=50,
            max_epochs=20,
            adversarial_epochs=8,
            lr=2e-3,
            adversarial_lr=3e-4,
            discriminator_lr=1e-2,
        ),
    ),
    "paper": Profile(
        name="paper",
        n_train=4000,
        n_test=1000,
        fractions=(0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
        rnn_size=128,
        hidden=128,
        max_epochs=60,
        batch_size=64,
        lr=1e-3,
        teacher_forcing=2 / 3,
        naive_sequences=100,
        checkpoint=True,
        walk=dict(
            n_train=4000,
            n_test=1000,
            n_timesteps=50,
            max_epochs=50,
            adversarial_epochs=20,
            lr=1e-3,
            adversarial_lr=3e-5,
            discriminator_lr=1e-3,
        ),
    ),
}

# the medium models with 3x the sequences and 1.5x the epochs (4.5x the training steps, about
# 80 minutes of one core for the imputation experiment): how the gaps to the paper move with
# the budget
PROFILES["large"] = replace(
    PROFILES["medium"],
    name="large",
    n_seeds=1,
    n_train=1500,
    max_epochs=30,
    walk={**PROFILES["medium"].walk, "n_train": 1500, "max_epochs": 30},
)

# ------------------------------------------------------------------------------ data


def billiards(profile, seed):
    """``(X_train, X_test)`` billiards trajectories of a profile and seed."""
    return make_billiards(
        n_train=profile.n_train,
        n_test=profile.n_test,
        n_timesteps=profile.n_timesteps,
        random_state=seed,
    )


def random_walks(n, n_timesteps, rng):
    """Stochastic agents in the plane: velocities ``v_{t+1} = 0.8 v_t + N(0, 0.02^2)``."""
    velocity = np.empty((n, n_timesteps, 2))
    velocity[:, 0] = rng.normal(0.0, 0.04, size=(n, 2))
    for t in range(1, n_timesteps):
        velocity[:, t] = 0.8 * velocity[:, t - 1] + rng.normal(0.0, 0.02, size=(n, 2))
    start = rng.uniform(-0.5, 0.5, size=(n, 1, 2))
    return start + np.cumsum(velocity, axis=1) - velocity[:, :1]


def missing_range(profile):
    """The number of missing steps of the imputation task, scaled to the profile's ``T``."""
    T = profile.n_timesteps
    low, high = (min(T - 1, round(m * T / 200)) for m in profile.missing)
    return low, high


def conditional_mean_paths(X_test, seed, n_draws=FLOOR_DRAWS):
    """``E[p_t | p_0]`` under the simulator: the best forward inference from one known step.

    With only the first position known, the velocity (a uniform direction and a uniform speed,
    :func:`~skimpute.datasets.make_billiards`'s defaults) is unknown, and the prediction with
    the least squared error at every step is the mean of the positions over the velocities.
    It is estimated with `n_draws` velocities per sequence through the simulator's own
    reflections; its L2 over all steps is the floor (the Bayes risk) of any model that sees
    only ``p_0``, trained or not. Returns an array of the shape of `X_test`.
    """
    low, high = inspect.signature(make_billiards).parameters["speed"].default
    rng = np.random.default_rng(seed)
    n_timesteps = X_test.shape[1]
    out = np.empty_like(X_test)
    for i, start in enumerate(X_test[:, 0]):
        starts = np.broadcast_to(start, (n_draws, 2))
        out[i] = _paths(starts, _velocities(rng, n_draws, low, high), n_timesteps, 1.0).mean(0)
    return out


def forward_mask(X):
    """Only the first step of each sequence known."""
    X_missing = X.copy()
    X_missing[:, 1:] = np.nan
    return X_missing, ~np.isnan(X_missing)


def example_task(X_test, seed):
    """The first test sequence with 8 known steps, the start included (figure 5)."""
    return sequence_steps(X_test[:1], X_test.shape[1] - 8, random_state=seed)


# ------------------------------------------------------------------------------ statistics


def _summary(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {"mean": None, "p5": None, "p95": None}
    p5, p95 = np.percentile(values, [5, 95])
    return {"mean": float(values.mean()), "p5": float(p5), "p95": float(p95)}


def billiards_statistics(X):
    """Mean and 5/95 percentiles over sequences of the paper's billiards statistics."""
    return {
        "sinuosity": _summary(sinuosity(X)),
        "step_change": _summary(step_change(X)),
        "reflection_distance": _summary(reflection_distance(X)),
        "path_length": _summary(path_length(X)),
        "out_of_bounds_rate": _summary(out_of_bounds_rate(X)),
    }


def walk_statistics(X):
    """Step statistics of random-walk trajectories."""
    steps = np.linalg.norm(np.diff(X, axis=1), axis=-1)
    return {
        "step_size": _summary(steps.mean(axis=1)),
        "step_change": _summary(step_change(X)),
        "path_length": _summary(path_length(X)),
        "sinuosity": _summary(sinuosity(X)),
    }


# ------------------------------------------------------------------------------ models


def _naomi(profile, seed, **params):
    return NAOMISequenceImputer(
        rnn_size=profile.rnn_size,
        hidden_layer_sizes=(profile.hidden,),
        max_epochs=profile.max_epochs,
        batch_size=profile.batch_size,
        lr=profile.lr,
        teacher_forcing=profile.teacher_forcing,
        random_state=seed,
        **params,
    )


def make_model(name, profile, seed):
    """The estimator of a model name (``"<method>"`` or ``"<method>-forward"``)."""
    forward = name.endswith("-forward")
    method = name.removesuffix("-forward")
    mask = {"train_mask": "forward"} if forward else {}
    if method == "NAOMI":
        return _naomi(profile, seed, **mask)
    if method == "SingleRes":
        return _naomi(profile, seed, n_resolutions=1, **mask)
    if method == "RNN":
        return AutoregressiveGRUImputer(
            rnn_size=profile.rnn_size,
            hidden_layer_sizes=(profile.hidden,),
            max_epochs=profile.max_epochs,
            batch_size=profile.batch_size,
            lr=profile.lr,
            random_state=seed,
        )
    if method == "KNN":
        return KNNSequenceImputer(n_neighbors=profile.n_neighbors)
    if method == "Linear":
        return LinearInterpolationImputer()
    raise ValueError(f"unknown model {name!r}")


def training_epochs(model):
    """The epochs of a neural model's whole training (pretraining and adversarial stage)."""
    return model.max_epochs + (model.adversarial_epochs if getattr(model, "adversarial", 0) else 0)


class Models:
    """Models fitted on demand, once per (name, seed), with their fit time.

    With a `checkpoint_dir`, the neural models are trained one epoch per ``partial_fit`` call
    (NAOMI's stages counted over the calls) and pickled with their training time after each
    epoch, to ``<checkpoint_dir>/<name>__seed<seed>.pkl``: a run stopped in the middle of a
    training continues from its last epoch, and a finished model is read back instead of
    trained again.
    """

    def __init__(self, profile, log, checkpoint_dir=None):
        self.profile, self.log = profile, log
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self._fitted = {}

    def get(self, name, seed, X_train, factory=None, epochs=None):
        """The model `name` fitted on `X_train` (built by `factory()` or :func:`make_model`).

        With a checkpoint folder, `epochs` (default: the model's whole training) is the epoch
        count to train to; `factory` may then return a model already trained for some
        epochs, which the training continues (its time is not counted in the one returned).
        """
        key = (name, seed)
        if key not in self._fitted:
            model = factory() if factory else make_model(name, self.profile, seed)
            if self.checkpoint_dir is not None and hasattr(model, "partial_fit"):
                self._fitted[key] = self._fit_by_epochs(model, name, seed, X_train, epochs)
            else:
                with measure() as m:
                    model.fit(X_train)
                self.log(f"  fitted {name} (seed {seed}) in {m.seconds:.1f} s")
                self._fitted[key] = (model, m.seconds)
        return self._fitted[key]

    def _fit_by_epochs(self, model, name, seed, X_train, epochs=None):
        path = self.checkpoint_dir / f"{name}__seed{seed}.pkl"
        seconds = 0.0
        if path.exists():
            saved, seconds = pickle.loads(path.read_bytes())
            if saved.get_params() != model.get_params():
                raise ValueError(
                    f"the checkpoint {path} is of a model with other parameters than the "
                    "profile's; delete it to train afresh."
                )
            model = saved
            self.log(f"  {name} (seed {seed}): from its checkpoint, epoch {model.n_epochs_}")
        total = training_epochs(model) if epochs is None else epochs
        while getattr(model, "n_epochs_", 0) < total:
            with measure() as m:
                model.partial_fit(X_train)
            seconds += m.seconds
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(pickle.dumps((model, seconds)))
            partial.replace(path)  # a run killed while writing leaves the previous checkpoint
            self.log(f"  {name} (seed {seed}): epoch {model.n_epochs_}/{total}, {seconds:.0f} s")
        return model, seconds


# ------------------------------------------------------------------------------ cells


def _record(experiment, method, setting, seed, profile, **values):
    return {
        "experiment": experiment,
        "method": method,
        "setting": setting,
        "seed": seed,
        "profile": profile.name,
        **values,
        "machine": machine_description(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _impute(models, name, seed, X_train, X_missing):
    model, fit_seconds = models.get(name, seed, X_train)
    with measure() as m:
        X_hat = model.transform(X_missing)
    return X_hat, {"fit_seconds": fit_seconds, "transform_seconds": m.seconds}


def cell_imputation(method, seed, profile, models):
    X_train, X_test = billiards(profile, seed)
    X_missing, mask = sequence_steps(X_test, missing_range(profile), random_state=seed)
    ex_missing, ex_mask = example_task(X_test, seed)
    if method == "GroundTruth":
        X_hat, ex_hat, times = X_test, X_test[:1], {}
    else:
        X_hat, times = _impute(models, method, seed, X_train, X_missing)
        ex_hat = models.get(method, seed, X_train)[0].transform(ex_missing)
    return _record(
        "imputation",
        method,
        "",
        seed,
        profile,
        l2_missing=float(l2_missing(X_test, X_hat, mask)),
        missing_fraction=float(1 - mask.mean()),
        statistics=billiards_statistics(X_hat),
        example=ex_hat[0].tolist(),
        example_known=ex_mask[0, :, 0].tolist(),
        **times,
    )


def cell_forward(method, seed, profile, models):
    X_train, X_test = billiards(profile, seed)
    X_missing, mask = forward_mask(X_test)
    extra = {}
    if method == "ConditionalMean":  # a floor, not a trajectory: only its L2 is recorded
        X_hat = conditional_mean_paths(X_test, seed)
    elif method == "GroundTruth":
        X_hat = X_test
    else:
        name = method if method == "RNN" else f"{method}-forward"
        X_hat, extra = _impute(models, name, seed, X_train, X_missing)
    if method != "ConditionalMean":
        extra["statistics"] = billiards_statistics(X_hat)
    return _record(
        "forward",
        method,
        "",
        seed,
        profile,
        l2_missing=float(l2_missing(X_test, X_hat, mask)),
        l2_all_steps=float(np.mean((X_hat - X_test) ** 2)),
        **extra,
    )


def cell_fraction(method, fraction, seed, profile, models):
    X_train, X_test = billiards(profile, seed)
    n_missing = min(profile.n_timesteps - 1, round(fraction * profile.n_timesteps))
    X_missing, mask = sequence_steps(X_test, n_missing, random_state=seed)
    if method == "GroundTruth":
        X_hat, times = X_test, {}
    else:
        X_hat, times = _impute(models, method, seed, X_train, X_missing)
    return _record(
        "fraction",
        method,
        f"{fraction:g}",
        seed,
        profile,
        fraction=fraction,
        l2_missing=float(l2_missing(X_test, X_hat, mask)),
        statistics=billiards_statistics(X_hat),
        **times,
    )


def _sequences_per_second(fn, n):
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def cell_speed(seed, profile, models):
    """Sequences per second of the incremental imputation against re-running both GRUs."""
    X_train, _ = billiards(profile, seed)
    model, _ = models.get("NAOMI", seed, X_train)
    n = profile.speed_sequences
    X, _ = make_billiards(n_train=n, n_test=0, n_timesteps=profile.n_timesteps, random_state=99)
    X_missing, _ = sequence_steps(X, missing_range(profile), random_state=seed)
    module = model.net_.module_.eval()
    Xs = torch.as_tensor(
        np.nan_to_num((X_missing - model.mean_) / model.scale_), dtype=torch.float32
    )
    known = torch.as_tensor(~np.isnan(X_missing).any(-1))
    observed = known[..., None].expand_as(Xs)
    n_naive = min(n, profile.naive_sequences)
    with torch.inference_mode():
        fast = _sequences_per_second(lambda: module.impute(Xs, known, observed), n)
        naive = _sequences_per_second(
            lambda: module.impute_naive(Xs[:n_naive], known[:n_naive], observed[:n_naive]), n_naive
        )
        same = torch.allclose(
            module.impute(Xs[:n_naive], known[:n_naive], observed[:n_naive]),
            module.impute_naive(Xs[:n_naive], known[:n_naive], observed[:n_naive]),
            atol=1e-4,
        )
    transform = _sequences_per_second(lambda: model.transform(X_missing), n)
    return _record(
        "speed",
        "NAOMI",
        "",
        seed,
        profile,
        n_sequences=n,
        n_naive_sequences=n_naive,
        incremental_per_second=fast,
        naive_per_second=naive,
        transform_per_second=transform,
        speedup=fast / naive,
        same_result=bool(same),
        threads=torch.get_num_threads(),
    )


def walk_task(profile, seed):
    """Random-walk train and test sets and the test masks of the adversarial experiment."""
    w = profile.walk
    rng = np.random.default_rng(seed)
    X_train = random_walks(w["n_train"], w["n_timesteps"], rng)
    X_test = random_walks(w["n_test"], w["n_timesteps"], rng)
    T = w["n_timesteps"]
    X_missing, mask = sequence_steps(X_test, (int(0.8 * T), T - 1), random_state=seed)
    return X_train, X_test, X_missing, mask


def cell_adversarial(method, seed, profile, models):
    X_train, X_test, X_missing, mask = walk_task(profile, seed)
    w = profile.walk
    if method == "GroundTruth":
        X_hat, times = X_test, {}
    else:
        model, fit_seconds = models.get(
            f"walk-{method}",
            seed,
            X_train,
            factory=lambda: NAOMISequenceImputer(
                stochastic=True,
                rnn_size=profile.rnn_size,
                hidden_layer_sizes=(profile.hidden,),
                max_epochs=w["max_epochs"],
                batch_size=profile.batch_size,
                lr=w["lr"],
                adversarial=method == "adversarial",
                adversarial_epochs=w["adversarial_epochs"],
                adversarial_lr=w["adversarial_lr"],
                discriminator_lr=w["discriminator_lr"],
                random_state=seed,
            ),
        )
        X_hat = model.sample(X_missing, n_imputations=1)[0]
        history = model.net_.history
        times = {
            "fit_seconds": fit_seconds,
            "g_steps": int(sum(sum(h.get("g_step", 0) for h in e["batches"]) for e in history)),
        }
    return _record(
        "adversarial",
        method,
        "",
        seed,
        profile,
        l2_missing=float(l2_missing(X_test, X_hat, mask)),
        statistics=walk_statistics(X_hat),
        **times,
    )


def cells(profile, experiments, n_seeds):
    """The (experiment, method, setting, seed, runner) of every cell of a run."""
    out = []
    for seed in range(n_seeds):
        for experiment in experiments:
            if experiment == "imputation":
                out += [(experiment, m, "", seed, cell_imputation) for m in IMPUTATION_METHODS]
            elif experiment == "forward":
                out += [(experiment, m, "", seed, cell_forward) for m in FORWARD_METHODS]
            elif experiment == "fraction":
                out += [
                    (experiment, m, f"{f:g}", seed, cell_fraction)
                    for f in profile.fractions
                    for m in FRACTION_METHODS
                ]
            elif experiment == "speed":
                out.append((experiment, "NAOMI", "", seed, cell_speed))
            elif experiment == "adversarial":
                out += [(experiment, m, "", seed, cell_adversarial) for m in ADVERSARIAL_METHODS]
            else:
                raise ValueError(f"unknown experiment {experiment!r}; choose from {EXPERIMENTS}")
    return out


def raw_path(out_dir, profile, experiment, method, setting, seed):
    """Where the raw record of one cell is stored."""
    name = f"{method}_{setting}" if setting else method
    return Path(out_dir) / "raw" / "naomi" / profile.name / experiment / f"{name}__seed{seed}.json"


def models_dir(out_dir, profile):
    """Where the checkpoints of a profile's models are kept (not committed)."""
    return Path(out_dir) / "raw" / "naomi" / profile.name / "models"


def run(
    profile,
    *,
    experiments=EXPERIMENTS,
    methods=None,
    n_seeds=None,
    resume=False,
    report_only=False,
    out_dir=RESULTS_DIR,
    log=functools.partial(print, flush=True),
):
    """Run (or, with `resume`, read back) every cell; return the records.

    `methods` (None: all) restricts the run to the cells of those methods, so that two
    processes can share a profile's cells. A profile with ``checkpoint`` trains its neural
    models one epoch at a time with a checkpoint after each (:class:`Models`), so that a
    stopped run continues where it was with `resume`. `report_only` reads the cells already
    written and runs none (the report of an unfinished run).
    """
    torch.set_num_threads(1)
    models = Models(profile, log, models_dir(out_dir, profile) if profile.checkpoint else None)
    records = []
    for experiment, method, setting, seed, runner in cells(
        profile, experiments, n_seeds or profile.n_seeds
    ):
        if methods is not None and method not in methods:
            continue
        path = raw_path(out_dir, profile, experiment, method, setting, seed)
        if report_only and not path.exists():
            continue
        if (resume or report_only) and path.exists():
            records.append(json.loads(path.read_text()))
            continue
        start = time.perf_counter()
        if experiment == "fraction":
            record = runner(method, float(setting), seed, profile, models)
        elif experiment == "speed":
            record = runner(seed, profile, models)
        else:
            record = runner(method, seed, profile, models)
        record["profile_settings"] = asdict(profile)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1) + "\n")
        log(
            f"naomi {profile.name} {experiment} {method} {setting} seed {seed}: "
            f"{time.perf_counter() - start:.1f} s"
        )
        records.append(record)
    return records


# ------------------------------------------------------------------------------ report

_BILLIARDS_STATS = (
    ("sinuosity", "sinuosity", 1.0),
    ("step_change", "step change (1e-3)", 1e3),
    ("reflection_distance", "reflection dist", 1.0),
    ("path_length", "path length", 1.0),
    ("out_of_bounds_rate", "out of bounds (%)", 100.0),
)
_WALK_STATS = (
    ("step_size", "step size (1e-3)", 1e3),
    ("step_change", "step change (1e-3)", 1e3),
    ("path_length", "path length", 1.0),
    ("sinuosity", "sinuosity", 1.0),
)


def flatten(records):
    """One row per (cell, statistic): mean, p5, p95, averaged over seeds."""
    rows = []
    for r in records:
        base = {k: r.get(k) for k in ("experiment", "method", "setting", "seed")}
        for key in ("l2_missing", "l2_all_steps"):
            if key in r:
                rows.append({**base, "statistic": key, "mean": r[key]})
        for stat, values in r.get("statistics", {}).items():
            rows.append({**base, "statistic": stat, **values})
        for key in (
            "incremental_per_second",
            "naive_per_second",
            "transform_per_second",
            "speedup",
        ):
            if key in r:
                rows.append({**base, "statistic": key, "mean": r[key]})
    frame = pd.DataFrame(
        rows, columns=["experiment", "method", "setting", "seed", "statistic", "mean", "p5", "p95"]
    )
    keys = ["experiment", "method", "setting", "statistic"]
    return frame.groupby(keys, sort=False, dropna=False)[["mean", "p5", "p95"]].mean().reset_index()


def _cell(frame, experiment, method, statistic, setting="", scale=1.0, spread=True):
    hit = frame[
        (frame.experiment == experiment)
        & (frame.method == method)
        & (frame.setting == setting)
        & (frame.statistic == statistic)
    ]
    if hit.empty or pd.isna(hit["mean"].iloc[0]):
        return ""
    row = hit.iloc[0]
    text = f"{row['mean'] * scale:.4g}"
    if spread and not pd.isna(row["p5"]):
        text += f" ({row['p5'] * scale:.3g} - {row['p95'] * scale:.3g})"
    return text


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _paper_table1():
    path = Path(paper_results_dir()) / TABLE1_FILE
    return pd.read_csv(path, comment="#") if path.exists() else None


def report_text(records, profile, machine, plots=(), experiments=()):
    """The markdown report of a run.

    The report names the cells not run yet of the experiments of `records` and of
    `experiments` (those asked for), so that an unfinished run shows what is left.
    """
    frame = flatten(records)
    present = set(frame.experiment)
    parts = [
        "# NAOMI on billiards",
        "",
        f"Profile `{profile.name}`: {profile.n_train} training and {profile.n_test} test "
        f"sequences of {profile.n_timesteps} steps (`skimpute.datasets.make_billiards`), "
        f"NAOMI / SingleRes / RNN with GRUs of {profile.rnn_size}, decoders of "
        f"({profile.hidden},), {profile.max_epochs} epochs, batch {profile.batch_size}, "
        f"lr {profile.lr:g}, teacher forcing {profile.teacher_forcing:.2g}; "
        f"{len({r['seed'] for r in records})} seed(s).",
        "",
        f"Machine: {machine}.",
        "",
        "Statistics: mean over test sequences (5th - 95th percentiles); closer to the ground "
        "truth is better. L2: mean squared error on the missing values.",
    ]
    done = {(r["experiment"], r["method"], r.get("setting", ""), r["seed"]) for r in records}
    expected = cells(profile, sorted(present | set(experiments)), len({r["seed"] for r in records}))
    missing = sorted({(e, m) for e, m, st, sd, _ in expected if (e, m, st, sd) not in done})
    if missing:
        parts += [
            "",
            "**Unfinished run**: the cells of "
            + ", ".join(f"{m} ({e})" for e, m in missing)
            + " have not run yet; their entries are blank (`--resume` continues the run).",
        ]
    if profile.max_epochs < 20:
        parts += [
            "",
            f"With {profile.max_epochs} epochs the neural models are far from trained: their "
            "imputations follow the known points (L2) but jitter from step to step, so their "
            "step changes and reflection points (direction changes in the open) are far from "
            "the truth's. The paper profile trains longer.",
        ]
    if "imputation" in present:
        header = ["method", "L2 missing"] + [label for _, label, _ in _BILLIARDS_STATS]
        rows = [
            [m, _cell(frame, "imputation", m, "l2_missing", spread=False)]
            + [_cell(frame, "imputation", m, s, scale=k) for s, _, k in _BILLIARDS_STATS]
            for m in IMPUTATION_METHODS
        ]
        low, high = missing_range(profile)
        parts += [
            "",
            f"## Imputation, {low} to {high} of {profile.n_timesteps} steps missing (figure 4)",
            "",
            _table(header, rows),
        ]
    if "forward" in present:
        paper = _paper_table1()
        header = ["method", "sinuosity", "step change (1e-3)", "reflection dist", "L2 (1e-3)"]
        rows = []
        for m in FORWARD_METHODS:
            rows.append(
                [m]
                + [
                    _cell(frame, "forward", m, s, scale=k, spread=False)
                    for s, k in (("sinuosity", 1), ("step_change", 1e3), ("reflection_distance", 1))
                ]
                + [_cell(frame, "forward", m, "l2_all_steps", scale=1e3, spread=False)]
            )
            if paper is not None and m in TABLE1_ROWS:
                hit = paper[paper["model"] == TABLE1_ROWS[m]]
                if len(hit):
                    p = hit.iloc[0]
                    rows.append(
                        [
                            f"{m} (paper)",
                            p["sinuosity"],
                            p["step_change_1e-3"],
                            p["reflection_point_dist"],
                            p["l2_loss_1e-3"],
                        ]
                    )
        parts += [
            "",
            "## Forward inference, only the first step known (Table 1)",
            "",
            'NAOMI and SingleRes trained with forward masks (`train_mask="forward"`, from '
            "scratch; the paper continues from the imputation model); L2 over all values, as the "
            "authors' code. The paper's rows are its Table 1 (its simulator settings differ). "
            "`ConditionalMean` is no model: the mean of the simulator's paths from the known "
            f"first step over {FLOOR_DRAWS} velocities per sequence, the prediction with the "
            "least squared error when only that step is known; its L2 is the floor of every "
            "model here, and its paths, averages of many directions, are no trajectories.",
            "",
            _table(header, rows),
        ]
    if "fraction" in present:
        fractions = list(dict.fromkeys(frame[frame.experiment == "fraction"].setting))
        parts += ["", "## Against the fraction of missing steps (figure 8)", ""]
        header = ["method", "statistic"] + [f"{float(f):.0%} missing" for f in fractions]
        rows = []
        for stat, label, k in (("l2_missing", "L2 missing", 1.0),) + _BILLIARDS_STATS[:3]:
            for m in FRACTION_METHODS:
                if m == "GroundTruth" and stat == "l2_missing":
                    continue
                rows.append(
                    [m, label]
                    + [_cell(frame, "fraction", m, stat, f, k, spread=False) for f in fractions]
                )
        parts.append(_table(header, rows))
    if "speed" in present:
        sp = [r for r in records if r["experiment"] == "speed"]
        r = sp[0]
        parts += [
            "",
            "## Speed of the imputation",
            "",
            f"NAOMI's imputation of {r['n_sequences']} sequences of {profile.n_timesteps} steps "
            f"({missing_range(profile)[0]} to {missing_range(profile)[1]} missing), one thread, "
            "all sequences of a chunk at once with their own masks.",
            "",
            _table(
                ["version", "sequences / s"],
                [
                    [
                        "incremental (NAOMISequenceImputer)",
                        f"{np.mean([x['incremental_per_second'] for x in sp]):.1f}",
                    ],
                    [
                        "transform (with validation and scaling)",
                        f"{np.mean([x['transform_per_second'] for x in sp]):.1f}",
                    ],
                    [
                        f"naive: both GRUs re-run after each step ({r['n_naive_sequences']} seq.)",
                        f"{np.mean([x['naive_per_second'] for x in sp]):.2f}",
                    ],
                    ["speed-up", f"{np.mean([x['speedup'] for x in sp]):.0f}x"],
                ],
            ),
            "",
            f"Same imputations (atol 1e-4): {all(x['same_result'] for x in sp)}.",
        ]
    if "adversarial" in present:
        w = profile.walk
        header = ["method", "L2 missing"] + [label for _, label, _ in _WALK_STATS]
        rows = [
            [m, _cell(frame, "adversarial", m, "l2_missing", spread=False)]
            + [_cell(frame, "adversarial", m, s, scale=k) for s, _, k in _WALK_STATS]
            for m in ADVERSARIAL_METHODS
        ]
        parts += [
            "",
            "## Adversarial stage on stochastic agents",
            "",
            f"Random walks with persistent velocities ({w['n_train']} training, {w['n_test']} "
            f"test sequences of {w['n_timesteps']} steps, 80 % to all but one step missing); a "
            f"stochastic NAOMI pretrained for {w['max_epochs']} epochs, and the same (the same "
            f"pretraining) with {w['adversarial_epochs']} adversarial epochs (generator lr "
            f"{w['adversarial_lr']:g}, discriminator lr {w['discriminator_lr']:g}); statistics of "
            "one sampled imputation per sequence. The generator is updated once the "
            "discriminator has given the imputations a probability below 0.3: "
            f"{_g_steps(records)} generator steps.",
            "",
            _table(header, rows),
        ]
    for title, path in plots:
        parts += ["", f"![{title}]({Path(path).name})"]
    return "\n".join(parts) + "\n"


def _g_steps(records):
    """Generator updates of the adversarial stage, from the adversarial cells."""
    return sum(r.get("g_steps", 0) for r in records if r["experiment"] == "adversarial")


def plot_trajectories(records, path):
    """Figure 5: the example sequence, its known points, NAOMI's and SingleRes's imputations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    examples = {
        r["method"]: r for r in records if r["experiment"] == "imputation" and "example" in r
    }
    if "GroundTruth" not in examples:
        return None
    truth = np.asarray(examples["GroundTruth"]["example"])
    known = np.asarray(examples["GroundTruth"]["example_known"], dtype=bool)
    shown = [m for m in ("NAOMI", "SingleRes") if m in examples]
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(4 * (len(shown) + 1), 4.2))
    colours = {"NAOMI": "tab:blue", "SingleRes": "tab:red"}
    for ax, method in zip(axes, [None] + shown):
        ax.plot(truth[:, 0], truth[:, 1], color="0.6", lw=2, label="truth")
        if method is not None:
            X = np.asarray(examples[method]["example"])
            l2 = np.mean((X - truth)[~known] ** 2)
            ax.plot(X[:, 0], X[:, 1], color=colours[method], lw=1.5, label=f"{method}")
            ax.set_title(f"{method} (L2 {l2:.3g})")
        else:
            ax.set_title("ground truth")
        ax.scatter(truth[known, 0], truth[known, 1], color="k", zorder=3, s=18, label="known")
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_aspect("equal")
        ax.add_patch(plt.Rectangle((-1, -1), 2, 2, fill=False, color="k", lw=0.8))
        ax.legend(loc="lower left", fontsize=7)
    fig.suptitle("Billiards: 8 known steps of 200 (the paper's figure 5)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_fractions(frame, path):
    """Figure 8: statistics of NAOMI and SingleRes against the fraction of missing steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = frame[frame.experiment == "fraction"]
    if sub.empty:
        return None
    stats = [("l2_missing", "L2 missing", 1.0)] + list(_BILLIARDS_STATS[:3])
    fig, axes = plt.subplots(1, len(stats), figsize=(4 * len(stats), 3.4))
    for ax, (stat, label, scale) in zip(axes, stats):
        for method, colour in (
            ("NAOMI", "tab:blue"),
            ("SingleRes", "tab:red"),
            ("GroundTruth", "0.5"),
        ):
            part = sub[(sub.method == method) & (sub.statistic == stat)]
            if part.empty:
                continue
            x = part.setting.astype(float) * 100
            ax.plot(x, part["mean"] * scale, "o-", color=colour, label=method)
        ax.set_xlabel("missing steps (%)")
        ax.set_title(label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(records, profile, out_dir=RESULTS_DIR, machine=None, experiments=()):
    """Write ``naomi_billiards[_<profile>].md`` / ``.csv`` and the plots; return the markdown.

    `experiments`: those asked for, whose cells not run yet the report names (see
    :func:`report_text`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "naomi_billiards" if profile.name == "quick" else f"naomi_billiards_{profile.name}"
    frame = flatten(records)
    frame.to_csv(out_dir / f"{stem}.csv", index=False)
    plots = []
    try:
        suffix = "" if profile.name == "quick" else f"_{profile.name}"
        traj = plot_trajectories(records, out_dir / f"naomi_trajectories{suffix}.png")
        frac = plot_fractions(frame, out_dir / f"naomi_fraction_missing{suffix}.png")
        plots = [(t, p) for t, p in (("trajectories", traj), ("fraction missing", frac)) if p]
    except ImportError:  # matplotlib is the optional "bench" extra
        pass
    text = report_text(
        records, profile, machine or machine_description(), plots, experiments=experiments
    )
    (out_dir / f"{stem}.md").write_text(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.naomi", description="NAOMI's billiards benchmarks."
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=EXPERIMENTS)
    parser.add_argument("--seeds", type=int, help="number of seeds (overrides the profile)")
    parser.add_argument("--resume", action="store_true", help="reuse the raw cells already run")
    parser.add_argument(
        "--methods",
        nargs="+",
        help="run only the cells of these methods (and write no report): to share a profile "
        "between processes; a run without it, with --resume, writes the report",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report of the cells already run, running none",
    )
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), help="where results go")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    if args.seeds is not None:
        profile = replace(profile, n_seeds=args.seeds)
    records = run(
        profile,
        experiments=tuple(args.experiments),
        methods=args.methods,
        resume=args.resume,
        report_only=args.report_only,
        out_dir=args.out_dir,
    )
    if not records:
        print("no cells to report")
        return 0
    if args.methods is not None and not args.report_only:
        print(f"ran the cells of {', '.join(args.methods)}; no report written")
        return 0
    text = write_report(records, profile, args.out_dir, experiments=args.experiments)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
