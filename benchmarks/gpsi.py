"""GPSI on MNIST: imputation NLL against the paper's Figure 2 and Table 1.

``python -m benchmarks.gpsi --profile quick|medium|paper [--resume]`` trains GPSI-add, GPSI-jump,
LSTM-add and LSTM-jump (:class:`skimpute.GPSIImputer`) on MNIST for each mask setting of the
paper (MCAR-60/70/80/90, MAR-14/16: one model per setting, trained and tested on the same mask
distribution, as in the paper), beside two baselines written here, VAE imputation and honest
template matching, and a sweep of the number of refinement steps (Figure 2(c)). It writes

- ``results/gpsi_mnist_<profile>.md`` and ``.csv``: the NLL table, the paper's numbers beside
  ours;
- ``results/gpsi_digits_<profile>.png``: imputed digits (truth, masked input, GPSI-add and
  GPSI-jump, their mean imputation and two roll-outs each);
- ``results/gpsi_steps_<profile>.png``: NLL against the number of refinement steps;
- one raw JSON file per cell under ``results/raw/gpsi/<profile>/<setting>/`` (``--resume``
  reads them back instead of recomputing), and for the digits picture an ``.npz`` of roll-outs
  beside the GPSI cells of MAR-16.

Cells are independent, so a profile can be split over processes (``--settings``, ``--methods``,
``--no-steps``); ``--report-only`` then writes the tables and figures from every raw file of the
profile.

Data: the 10 000 MNIST *test* images (``skimpute.datasets.load_mnist_test_images``, read from
``../shared/datasets``), each rescaled to min 0 and max 1 as in the reference code; the first
9 000 train (the quick profile: 1 000 of them), the last 1 000 are evaluated (quick: 200). The
paper trained on the 60 000 training images and evaluated on the 10 000 test images.

Units: the NLL of an image is the cross-entropy of its true grey levels under the imputed
probabilities, summed over its missing pixels (nats per image, "Bernoulli on grey levels"). The
paper normalises "for the number of imputed pixels": its numbers are the NLL per imputed pixel
times 784 (the reference plotting script divides the MCAR-0.9 NLLs by 0.9), which the ``paper
units`` columns report: mean NLL per image x 784 / mean number of missing pixels. For the GPSI
models the NLL is the bound the paper reports (mean over roll-outs of the guide of the final NLL
plus the summed KL(q || p), ``GPSIImputer.imputation_nll(kind="bound")``); the table also gives
the expected NLL of one roll-out of the primary policy ("policy").
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks._data import default_data_home
from benchmarks._measure import measure
from benchmarks._report import paper_results_dir
from benchmarks._runner import RESULTS_DIR, machine_description
from skimpute import GPSIImputer
from skimpute.ampute import mcar, square_occlusion
from skimpute.datasets import load_mnist_test_images

SUITE = "gpsi"
SIDE = 28
N_PIXELS = SIDE * SIDE

#: The paper's mask settings: name -> (kind, parameter).
SETTINGS = {
    "mcar60": ("mcar", 0.6),
    "mcar70": ("mcar", 0.7),
    "mcar80": ("mcar", 0.8),
    "mcar90": ("mcar", 0.9),
    "mar14": ("block", 14),
    "mar16": ("block", 16),
}
GPSI_METHODS = {
    "GPSI-add": ("direct", "add"),
    "GPSI-jump": ("direct", "jump"),
    "LSTM-add": ("lstm", "add"),
    "LSTM-jump": ("lstm", "jump"),
}
BASELINES = ("VAE-imp", "TM-hon")
METHODS = tuple(GPSI_METHODS) + BASELINES
#: Figure 2(c): the steps sweep runs GPSI-add and GPSI-jump on this setting.
STEPS_SETTING = "mcar90"
#: The digits picture shows this setting (the paper's Figure 3(a) is MNIST MAR-16).
PICTURE_SETTING = "mar16"
PICTURE_IMAGES = 6

PROFILES = {
    "quick": {
        "n_train": 1000,
        "n_eval": 200,
        "eval_samples": 2,
        "gpsi": dict(
            hidden_layer_sizes=(128,), latent_dim=32, n_steps=6, max_epochs=3, batch_size=50
        ),
        "lstm": dict(
            hidden_layer_sizes=(64,), latent_dim=32, n_steps=6, max_epochs=2, batch_size=50
        ),
        "lr": 1e-3,
        "vae": dict(hidden=128, latent=20, epochs=5, batch_size=50, lr=1e-3),
        "steps": (1, 2, 5, 10, 15),
        "steps_epochs": 2,
    },
    # what one CPU core trains in about two hours (25 s an epoch for GPSI, 40 s for the LSTM)
    "medium": {
        "n_train": 9000,
        "n_eval": 1000,
        "eval_samples": 10,
        "gpsi": dict(
            hidden_layer_sizes=(256, 256), latent_dim=64, n_steps=6, max_epochs=15, batch_size=50
        ),
        "lstm": dict(
            hidden_layer_sizes=(128,), latent_dim=64, n_steps=6, max_epochs=5, batch_size=50
        ),
        "lr": 1e-3,
        "vae": dict(hidden=256, latent=32, epochs=30, batch_size=50, lr=1e-3),
        "steps": (1, 2, 5, 10, 15),
        "steps_epochs": 4,
    },
    "paper": {
        "n_train": 9000,
        "n_eval": 1000,
        "eval_samples": 10,
        "gpsi": dict(
            hidden_layer_sizes=(500, 500),
            latent_dim=100,
            n_steps=6,
            max_epochs=300,
            batch_size=200,
        ),
        "lstm": dict(
            hidden_layer_sizes=(300,), latent_dim=100, n_steps=16, max_epochs=300, batch_size=200
        ),
        "lr": 2e-4,
        "vae": dict(hidden=500, latent=50, epochs=200, batch_size=200, lr=1e-3),
        "steps": (1, 2, 5, 10, 15),
        "steps_epochs": 300,
    },
}


# ---------------------------------------------------------------------------------------------
# data and masks
# ---------------------------------------------------------------------------------------------


def load_images(n_train, n_eval, data_home=None):
    """MNIST test images as rows of grey levels in [0, 1]: ``(train, eval)``.

    Each image is rescaled to min 0 and max 1 (the reference code's preprocessing); training
    takes the first `n_train` of the first 9 000 images, evaluation the last `n_eval` images.
    """
    images = load_mnist_test_images(data_home=data_home or default_data_home())
    X = images.reshape(len(images), -1).astype(np.float64)
    low, high = X.min(axis=1, keepdims=True), X.max(axis=1, keepdims=True)
    X = (X - low) / np.maximum(high - low, 1e-12)
    return X[: min(n_train, 9000)], X[len(X) - n_eval :]


def mask_eval(X, setting, seed=0):
    """The evaluation images with the setting's holes: ``(X_missing, mask)``, mask True = known."""
    kind, value = SETTINGS[setting]
    if kind == "mcar":
        return mcar(X, value, random_state=seed)
    return square_occlusion(X, value, image_shape=(SIDE, SIDE), random_state=seed)


def bernoulli_nll(X_true, proba, mask):
    """Cross-entropy of the true grey levels over the missing pixels, per image (nats)."""
    p = np.clip(proba, 1e-7, 1 - 1e-7)
    per_pixel = -(X_true * np.log(p) + (1 - X_true) * np.log1p(-p))
    return (per_pixel * ~mask).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# baselines
# ---------------------------------------------------------------------------------------------


def nearest_templates(X_missing, mask, X_train, chunk=250):
    """Honest template matching: the training image closest on each image's known pixels."""
    observed = np.where(mask, X_missing, 0.0)
    m = mask.astype(np.float64)
    best = np.empty(len(X_missing), dtype=int)
    train_sq = (X_train**2).T
    for start in range(0, len(X_missing), chunk):
        o, w = observed[start : start + chunk], m[start : start + chunk]
        distance = (o**2).sum(1, keepdims=True) - 2 * o @ X_train.T + w @ train_sq
        best[start : start + chunk] = distance.argmin(axis=1)
    return X_train[best]


def template_eps(X_train, setting, seed=0, n_val=200):
    """The clipping of the template's grey levels into probabilities, chosen on training data.

    The templates' grey levels are clipped to ``[eps, 1 - eps]``; ``eps`` is the value of
    {0.01, 0.02, 0.05, 0.1, 0.2} with the lowest NLL when `n_val` training images, with the
    setting's holes, are matched against the other training images (never the evaluation set).
    """
    n_val = min(n_val, len(X_train) // 2)
    X_val, X_rest = X_train[:n_val], X_train[n_val:]
    X_missing, mask = mask_eval(X_val, setting, seed=seed + 1)
    templates = nearest_templates(X_missing, mask, X_rest)
    grid = (0.01, 0.02, 0.05, 0.1, 0.2)
    nll = [bernoulli_nll(X_val, np.clip(templates, e, 1 - e), mask).mean() for e in grid]
    return grid[int(np.argmin(nll))]


class _VAE(nn.Module):
    """A small VAE of grey-level images: MLP encoder and decoder, Bernoulli on grey levels."""

    def __init__(self, n_pixels, hidden, latent):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_pixels, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_pixels)
        )

    def posterior(self, x):
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        return mu, log_var.clamp(-10, 10)

    def loss(self, x):
        mu, log_var = self.posterior(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        nll = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(-1)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(-1)
        return (nll + kl).mean()


def fit_vae(X_train, hidden, latent, epochs, batch_size, lr, seed=0):
    """Train the VAE on the complete training images (negative ELBO, Adam)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = _VAE(X_train.shape[1], hidden, latent)
        optimiser = torch.optim.Adam(vae.parameters(), lr=lr)
        X = torch.as_tensor(X_train, dtype=torch.float32)
        for _ in range(epochs):
            for rows in torch.randperm(len(X)).split(batch_size):
                optimiser.zero_grad()
                loss = vae.loss(X[rows])
                loss.backward()
                optimiser.step()
    return vae.eval()


def vae_impute(vae, X_missing, mask, fill, n_iter=16, n_runs=2, seed=0):
    """VAE imputation (the paper's baseline): iterate reconstructions with the known pixels fixed.

    The missing pixels start at the training set's mean grey level `fill`; each of the
    `n_iter` steps draws ``z ~ q(z | current image)`` and replaces the missing pixels with the
    decoder's probabilities ``sigmoid(decoder(z))``. Returns the final probabilities of each of
    `n_runs` independent runs, shape ``(n_runs, n_images, n_pixels)``.
    """
    known = torch.as_tensor(mask, dtype=torch.float32)
    x0 = torch.as_tensor(np.where(mask, X_missing, fill), dtype=torch.float32)
    runs = []
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(n_runs):
            x = x0.clone()
            for _ in range(n_iter):
                mu, log_var = vae.posterior(x)
                eps = torch.randn(mu.shape, generator=generator)
                proba = torch.sigmoid(vae.decoder(mu + torch.exp(0.5 * log_var) * eps))
                x = known * x0 + (1 - known) * proba
            runs.append(proba.numpy().astype(np.float64))
    return np.stack(runs)


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------


def make_gpsi(method, setting, config, n_steps=None, max_epochs=None, seed=0):
    """The GPSIImputer of a method for a setting: trained on the setting's mask distribution."""
    policy, update = GPSI_METHODS[method]
    params = dict(config["lstm" if policy == "lstm" else "gpsi"])
    if n_steps is not None:
        params["n_steps"] = n_steps
    if max_epochs is not None:
        params["max_epochs"] = max_epochs
    kind, value = SETTINGS[setting]
    mask_params = (
        dict(train_mask="mcar", train_missing_rate=value)
        if kind == "mcar"
        else dict(train_mask="block", block_size=value, image_shape=(SIDE, SIDE))
    )
    return GPSIImputer(
        policy=policy,
        update=update,
        observation="bernoulli",
        # the reference code trains on eq. 17 from the first step, and so were the committed
        # MNIST results (they predate the estimator's KL warm-up)
        kl_warmup=0.0,
        lr=config["lr"],
        n_imputation_samples=config["eval_samples"],
        random_state=seed,
        **mask_params,
        **params,
    )


def _record(setting, method, X_eval, mask, nll, X_hat, fit_seconds, extra=None):
    n_missing = (~mask).sum(axis=1)
    record = {
        "suite": SUITE,
        "setting": setting,
        "method": method,
        "n_eval": int(len(X_eval)),
        "missing_pixels": float(n_missing.mean()),
        "nll": float(nll.mean()),
        "nll_paper_units": float(nll.mean() * N_PIXELS / n_missing.mean()),
        "rmse": float(np.sqrt(np.mean((X_hat - X_eval)[~mask] ** 2))),
        "fit_seconds": fit_seconds,
        "machine": machine_description(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    record.update(extra or {})
    return record


def run_gpsi_cell(method, setting, X_train, X_eval, config, picture_path=None, **overrides):
    """Train one GPSI model for a setting and evaluate it on the evaluation images."""
    X_missing, mask = mask_eval(X_eval, setting)
    imputer = make_gpsi(method, setting, config, **overrides)
    with measure() as fit_m:
        imputer.fit(X_train)
    X_hat = imputer.transform(X_missing)
    nll = imputer.imputation_nll(X_missing, X_eval, kind="bound")
    policy_nll = imputer.imputation_nll(X_missing, X_eval, kind="policy")
    if picture_path is not None:
        rows = slice(0, PICTURE_IMAGES)
        Path(picture_path).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            picture_path,
            truth=X_eval[rows].astype(np.float16),
            mask=mask[rows],
            mean=X_hat[rows].astype(np.float16),
            rollouts=imputer.sample(X_missing[rows], 2).astype(np.float16),
        )
    extra = {
        "nll_policy": float(policy_nll.mean()),
        "nll_policy_paper_units": float(policy_nll.mean() * N_PIXELS / (~mask).sum(1).mean()),
        "n_steps": int(imputer.n_steps),
        "n_epochs": int(imputer.n_epochs_),
        "final_train_loss": float(imputer.net_.history[-1, "train_loss"]),
    }
    return _record(setting, method, X_eval, mask, nll, X_hat, fit_m.seconds, extra)


def run_baseline_cell(method, setting, X_train, X_eval, config, vae=None):
    """Evaluate VAE imputation or honest template matching for a setting.

    `vae` is ``(model, training seconds)`` of a VAE already trained on `X_train`, or None to
    train one.
    """
    X_missing, mask = mask_eval(X_eval, setting)
    if method == "TM-hon":
        with measure() as fit_m:
            eps = template_eps(X_train, setting)
            templates = nearest_templates(X_missing, mask, X_train)
        proba = np.clip(templates, eps, 1 - eps)
        nll = bernoulli_nll(X_eval, proba, mask)
        X_hat = np.where(mask, X_missing, templates)
        return _record(setting, method, X_eval, mask, nll, X_hat, fit_m.seconds, {"eps": eps})
    model, seconds = vae if vae is not None else train_vae(X_train, config)
    runs = vae_impute(model, X_missing, mask, X_train.mean(), n_runs=config["eval_samples"])
    nll = np.mean([bernoulli_nll(X_eval, run, mask) for run in runs], axis=0)
    X_hat = np.where(mask, X_missing, runs.mean(axis=0))
    return _record(setting, method, X_eval, mask, nll, X_hat, seconds)


def train_vae(X_train, config):
    """Train the profile's VAE; return ``(model, seconds)``."""
    with measure() as fit_m:
        model = fit_vae(X_train, **config["vae"])
    return model, fit_m.seconds


def raw_path(out_dir, setting, method, seed=0, profile="quick"):
    """Where the raw record of one cell of a profile is written."""
    return Path(out_dir) / "raw" / SUITE / profile / setting / f"{method}__seed{seed}.json"


def result_path(out_dir, name, profile, suffix):
    """A results file of a profile: ``<out_dir>/<name>_<profile><suffix>``."""
    return Path(out_dir) / f"{name}_{profile}{suffix}"


def read_records(out_dir, profile):
    """Every raw record of a profile: ``(records, step_records)`` in table order."""
    root = Path(out_dir) / "raw" / SUITE / profile
    records, step_records = [], []
    order = {s: i for i, s in enumerate(SETTINGS)}
    rank = {m: i for i, m in enumerate(METHODS)}
    for path in sorted(root.glob("*/*.json")):
        record = json.loads(path.read_text())
        (step_records if record.get("sweep") else records).append(record)
    records.sort(key=lambda r: (order[r["setting"]], rank[r["method"]]))
    step_records.sort(key=lambda r: (r["method"], r["n_steps"]))
    return records, step_records


def run(
    profile="quick",
    *,
    out_dir=RESULTS_DIR,
    resume=False,
    settings=None,
    methods=None,
    steps=True,
    budget=None,
    data_home=None,
    log=print,
):
    """Run the cells of a profile (resumable); write the tables and figures; return the records.

    Parameters
    ----------
    profile : {"quick", "medium", "paper"}
        The budget, see ``PROFILES``.
    out_dir : path
        Results folder (raw files under ``raw/gpsi/<profile>/``).
    resume : bool
        Read back the cells whose raw file exists instead of running them.
    settings, methods : sequence of str, optional
        Run only these settings and methods.
    steps : bool
        Run the refinement-steps sweep (GPSI-add and GPSI-jump on MCAR-0.9).
    budget : dict, optional
        Entries that override the profile's (for tests: tiny images counts and epochs).
    data_home : path, optional
        Folder with ``mnist_test_images.npz`` (else ``../shared/datasets``).
    log : callable
        Progress messages.
    """
    config = {**PROFILES[profile], **(budget or {})}
    settings = tuple(settings or SETTINGS)
    methods = tuple(methods or METHODS)
    out_dir = Path(out_dir)
    X_train, X_eval = load_images(config["n_train"], config["n_eval"], data_home)
    vae = None
    records = []

    def cell(path, compute, sweep=False):
        if resume and path.exists():
            return json.loads(path.read_text())
        started = time.perf_counter()
        record = compute()
        record.update(profile=profile, sweep=sweep)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1) + "\n")
        log(
            f"gpsi {record['setting']} {record['method']}: NLL {record['nll']:.1f} nats/image "
            f"({record['nll_paper_units']:.1f} paper units), "
            f"{time.perf_counter() - started:.1f} s"
        )
        return record

    for setting in settings:
        for method in methods:
            path = raw_path(out_dir, setting, method, profile=profile)
            if method in GPSI_METHODS:
                picture = None
                if setting == PICTURE_SETTING:
                    picture = path.with_suffix(".npz")
                records.append(
                    cell(
                        path,
                        lambda m=method, s=setting, p=picture: run_gpsi_cell(
                            m, s, X_train, X_eval, config, picture_path=p
                        ),
                    )
                )
            else:
                if method == "VAE-imp" and vae is None and not (resume and path.exists()):
                    vae = train_vae(X_train, config)  # one VAE serves every setting
                records.append(
                    cell(
                        path,
                        lambda m=method, s=setting: run_baseline_cell(
                            m, s, X_train, X_eval, config, vae=vae
                        ),
                    )
                )
    step_records = []
    if steps:
        for method in ("GPSI-add", "GPSI-jump"):
            for T in config["steps"]:
                path = raw_path(
                    out_dir, f"steps_{STEPS_SETTING}", f"{method}_T{T}", profile=profile
                )
                record = cell(
                    path,
                    lambda m=method, t=T: run_gpsi_cell(
                        m,
                        STEPS_SETTING,
                        X_train,
                        X_eval,
                        config,
                        n_steps=t,
                        max_epochs=config["steps_epochs"],
                    ),
                    sweep=True,
                )
                step_records.append(record)
    report(records, step_records, profile, config, out_dir, log)
    return records, step_records


def report(records, step_records, profile, config, out_dir=RESULTS_DIR, log=print):
    """Write a profile's tables and, where their cells ran, its figures."""
    write_report(records, step_records, profile, config, out_dir)
    if any(r["setting"] == PICTURE_SETTING for r in records):
        try:
            plot_digits(out_dir, profile=profile)
        except FileNotFoundError as err:
            log(f"no digits picture: {err}")
    if step_records:
        plot_steps(step_records, out_dir, profile=profile)


# ---------------------------------------------------------------------------------------------
# report and figures
# ---------------------------------------------------------------------------------------------


def paper_numbers(directory=None):
    """The paper's MNIST numbers: ``{(setting, method): value}`` and the steps table."""
    directory = Path(directory or paper_results_dir())
    values, steps = {}, None
    figure2 = directory / "gpsi_figure2_mnist_mcar_nll.csv"
    if figure2.exists():
        frame = pd.read_csv(figure2, comment="#")
        for row in frame.to_dict("records"):
            setting = f"mcar{int(round(row['drop'] * 100))}"
            for method, value in row.items():
                if method != "drop":
                    values[(setting, method)] = float(value)
    table1 = directory / "gpsi_table1_nll.csv"
    if table1.exists():
        frame = pd.read_csv(table1, comment="#")
        for row in frame.to_dict("records"):
            for column, setting in (("mnist_mar14", "mar14"), ("mnist_mar16", "mar16")):
                if pd.notna(row.get(column)):
                    values[(setting, row["method"])] = float(row[column])
    figure2c = directory / "gpsi_figure2c_steps.csv"
    if figure2c.exists():
        steps = pd.read_csv(figure2c, comment="#")
    return values, steps


def _fmt(value, digits=1):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def write_report(records, step_records, profile, config, out_dir):
    """Write ``gpsi_mnist_<profile>.md`` and ``.csv``; return the Markdown text."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paper, paper_steps = paper_numbers()
    rows = []
    for record in list(records) + list(step_records):
        row = dict(record)
        row["paper"] = paper.get((record["setting"], record["method"]))
        if record.get("sweep"):
            row["setting"] = f"steps_{record['setting']}"
        rows.append(row)
    frame = pd.DataFrame.from_records(rows)
    frame.to_csv(
        result_path(out_dir, "gpsi_mnist", profile, ".csv"), index=False, float_format="%.6g"
    )
    settings = list(dict.fromkeys(r["setting"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    by_cell = {(r["setting"], r["method"]): r for r in records}
    lines = [
        f"# GPSI on MNIST (profile `{profile}`)",
        "",
        "Imputation NLL on MNIST grey levels, lower is better: ours (the paper's) in the paper's "
        "units, nats per image normalised to 784 imputed pixels (mean NLL per image x 784 / "
        "mean number of missing pixels; the cross-entropy of the true grey levels, 'Bernoulli "
        "on grey levels'). MCAR-d: each pixel missing with probability d; MAR-d: one d x d "
        "square. One model per setting, trained and tested on the same mask distribution.",
        "",
        f"Data: the 10 000 MNIST test images, rescaled per image to [0, 1]; "
        f"{config['n_train']} of the first 9 000 train, the last {config['n_eval']} are "
        "evaluated (the paper: 60 000 training images, the 10 000 test images).",
        "",
        "GPSI/LSTM: the bound the paper reports (mean over "
        f"{config['eval_samples']} guide roll-outs of the final NLL + sum_t KL(q || p)); "
        f"budget: GPSI {config['gpsi']}, LSTM {config['lstm']}, lr {config['lr']}. "
        "VAE-imp: a VAE trained on the complete training images "
        f"({config['vae']}); 16 steps that replace the missing pixels with the decoder's "
        "probabilities given z ~ q(z | current image), starting from the mean grey level; NLL of "
        f"the final probabilities, mean over {config['eval_samples']} runs. TM-hon: honest "
        "template matching, the training image nearest on the known pixels, its grey levels "
        "clipped to [eps, 1 - eps] as probabilities, eps chosen on training images.",
        "",
        f"Machine: {machine_description()}.",
        "",
    ]
    if profile == "quick":
        lines += [
            "**Profile quick**: a few epochs on 1 000 images, to exercise the machinery in "
            "minutes; the GPSI models barely leave the mean image at this budget, so these "
            "numbers are not comparable with the paper's (200 000 steps on 60 000 images). Run "
            "`python -m benchmarks.gpsi --profile paper --resume` (a GPU helps) for those.",
            "",
        ]
    elif profile == "medium":
        gpsi_steps = (
            config["gpsi"]["max_epochs"] * config["n_train"] // config["gpsi"]["batch_size"]
        )
        lines += [
            "**Profile medium**: what one CPU core trains in about two hours, smaller networks and "
            f"{config['gpsi']['max_epochs']} epochs ({gpsi_steps} steps of batch "
            f"{config['gpsi']['batch_size']}) for GPSI, {config['lstm']['max_epochs']} epochs "
            f"and {config['lstm']['n_steps']} steps (the paper: 16) for the LSTM models, on "
            f"{config['n_train']} images; the paper trained for 200 000 steps on 60 000 images, "
            "so these numbers say what this budget reaches, not what the models can.",
            "",
        ]
    lines += [
        "| method | " + " | ".join(settings) + " |",
        "|---|" + "---|" * len(settings),
    ]
    for method in methods:
        cells = []
        for setting in settings:
            record = by_cell.get((setting, method))
            ours = _fmt(record["nll_paper_units"]) if record else "–"
            cells.append(f"{ours} ({_fmt(paper.get((setting, method)))})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Details per cell: nats per image (sum over the missing pixels), the expected NLL of "
        "one roll-out of the primary policy (not a bound), RMSE of the imputation on the "
        "missing pixels, training seconds and seconds per epoch (GPSI and LSTM models).",
        "",
        "| setting | method | NLL nats/image | policy NLL | RMSE | fit s | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for record in records:
        epochs = record.get("n_epochs")
        per_epoch = record["fit_seconds"] / epochs if epochs else None
        lines.append(
            f"| {record['setting']} | {record['method']} | {_fmt(record['nll'])} | "
            f"{_fmt(record.get('nll_policy'))} | {_fmt(record['rmse'], 3)} | "
            f"{_fmt(record['fit_seconds'])} | {_fmt(per_epoch)} |"
        )
    if step_records:
        lines += [
            "",
            f"## Refinement steps (Figure 2(c), {STEPS_SETTING})",
            "",
            "Raw NLL in nats per image (not normalised, as in the paper's steps table; the "
            f"paper's figure divides by 0.9). {config['steps_epochs']} epochs per model.",
            "",
            "| steps | " + " | ".join(f"{m} | paper {m}" for m in ("GPSI-add", "GPSI-jump")) + " |",
            "|---|---|---|---|---|",
        ]
        for T in sorted({r["n_steps"] for r in step_records}):
            cells = []
            for method in ("GPSI-add", "GPSI-jump"):
                hit = [r for r in step_records if r["method"] == method and r["n_steps"] == T]
                value = None
                if paper_steps is not None and T in set(paper_steps["steps"]):
                    value = float(paper_steps.loc[paper_steps["steps"] == T, method].iloc[0])
                cells += [_fmt(hit[0]["nll"]) if hit else "–", _fmt(value)]
            lines.append(f"| {T} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    result_path(out_dir, "gpsi_mnist", profile, ".md").write_text(text)
    return text


def plot_digits(out_dir=RESULTS_DIR, setting=PICTURE_SETTING, profile="quick"):
    """Draw truth, masked input, GPSI-add and GPSI-jump (mean and two roll-outs each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    data = {}
    for method in ("GPSI-add", "GPSI-jump"):
        path = raw_path(out_dir, setting, method, profile=profile).with_suffix(".npz")
        if not path.exists():
            raise FileNotFoundError(f"{path} (run the {method} cell of {setting})")
        data[method] = np.load(path)
    first = data["GPSI-add"]
    truth, mask = first["truth"].astype(float), first["mask"]
    masked = np.where(mask, truth, 0.5)
    columns = [("truth", truth), ("masked", masked)]
    for method, arrays in data.items():
        columns += [
            (f"{method}\nmean", arrays["mean"].astype(float)),
            (f"{method}\nroll-out 1", arrays["rollouts"][0].astype(float)),
            (f"{method}\nroll-out 2", arrays["rollouts"][1].astype(float)),
        ]
    n = len(truth)
    fig, axes = plt.subplots(n, len(columns), figsize=(1.2 * len(columns), 1.2 * n + 0.6))
    axes = np.atleast_2d(axes)
    for j, (title, images) in enumerate(columns):
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(images[i].reshape(SIDE, SIDE), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=7)
    fig.suptitle(f"GPSI on MNIST {setting} (grey = missing)", fontsize=9)
    fig.tight_layout()
    path = result_path(out_dir, "gpsi_digits", profile, ".png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_steps(step_records, out_dir=RESULTS_DIR, profile="quick"):
    """Draw the NLL against the number of refinement steps, ours and the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, paper_steps = paper_numbers()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for method, colour in (("GPSI-add", "C0"), ("GPSI-jump", "C1")):
        hits = sorted((r["n_steps"], r["nll"]) for r in step_records if r["method"] == method)
        if hits:
            ax.plot(*zip(*hits), marker="o", color=colour, label=f"{method} (ours)")
        if paper_steps is not None:
            ax.plot(
                paper_steps["steps"],
                paper_steps[method],
                marker="s",
                linestyle="--",
                color=colour,
                label=f"{method} (paper)",
            )
    ax.set_xlabel("refinement steps T")
    ax.set_ylabel(f"NLL, nats per image ({STEPS_SETTING})")
    ax.set_title("GPSI: NLL against the number of steps")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = result_path(out_dir, "gpsi_steps", profile, ".png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpsi", description=__doc__)
    parser.add_argument("--profile", choices=tuple(PROFILES), default="quick")
    parser.add_argument("--resume", action="store_true", help="reuse raw results of cells")
    parser.add_argument("--settings", nargs="+", choices=tuple(SETTINGS))
    parser.add_argument("--methods", nargs="+", choices=METHODS)
    parser.add_argument("--no-steps", action="store_true", help="skip the steps sweep")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    parser.add_argument("--data-home", help="folder with mnist_test_images.npz")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the tables and figures from the profile's raw files, run nothing",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        records, step_records = read_records(args.out_dir, args.profile)
        if not records and not step_records:
            parser.exit(1, f"no raw result of profile {args.profile} in {args.out_dir}\n")
        report(records, step_records, args.profile, PROFILES[args.profile], args.out_dir)
        print(result_path(args.out_dir, "gpsi_mnist", args.profile, ".md").read_text())
        return 0
    run(
        args.profile,
        out_dir=args.out_dir,
        resume=args.resume,
        settings=args.settings,
        methods=args.methods,
        steps=not args.no_steps,
        data_home=args.data_home,
    )
    print(result_path(args.out_dir, "gpsi_mnist", args.profile, ".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
