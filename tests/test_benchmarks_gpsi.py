"""The GPSI MNIST benchmark's machinery on a tiny budget."""

import json

import numpy as np
import pytest
import torch

from benchmarks import gpsi

torch.set_num_threads(1)

#: a budget of a few seconds: 40 training images, 10 evaluated, one epoch
TINY = {
    "n_train": 40,
    "n_eval": 10,
    "eval_samples": 2,
    "gpsi": dict(hidden_layer_sizes=(8,), latent_dim=4, n_steps=2, max_epochs=1, batch_size=20),
    "lstm": dict(hidden_layer_sizes=(8,), latent_dim=4, n_steps=2, max_epochs=1, batch_size=20),
    "vae": dict(hidden=8, latent=2, epochs=1, batch_size=20, lr=1e-3),
    "steps": (1, 2),
    "steps_epochs": 1,
}


def test_quick_machinery_writes_tables_figures_and_resumes(
    tmp_path, shared_datasets_dir, shared_paper_results
):
    records, steps = gpsi.run(
        "quick",
        out_dir=tmp_path,
        settings=("mcar90", "mar16"),
        budget=TINY,
        data_home=shared_datasets_dir,
        log=lambda *a: None,
    )
    assert {(r["setting"], r["method"]) for r in records} == {
        (s, m) for s in ("mcar90", "mar16") for m in gpsi.METHODS
    }
    for record in records:
        assert np.isfinite(record["nll"]) and record["nll"] > 0
        assert gpsi.raw_path(tmp_path, record["setting"], record["method"]).exists()
    mcar90 = [r for r in records if r["setting"] == "mcar90"]
    # paper units: nats per image normalised to 784 imputed pixels
    for record in mcar90:
        assert record["nll_paper_units"] == pytest.approx(
            record["nll"] * 784 / record["missing_pixels"]
        )
        assert record["missing_pixels"] == pytest.approx(0.9 * 784, rel=0.05)
    assert [(r["method"], r["n_steps"]) for r in steps] == [
        ("GPSI-add", 1),
        ("GPSI-add", 2),
        ("GPSI-jump", 1),
        ("GPSI-jump", 2),
    ]
    text = (tmp_path / "gpsi_mnist_quick.md").read_text()
    assert "| GPSI-add |" in text and "(85.0)" in text  # the paper's MCAR-0.9 GPSI-add
    assert "(175.0)" in text  # the paper's MAR-16 GPSI-add (Table 1)
    assert (tmp_path / "gpsi_mnist_quick.csv").exists()
    assert (tmp_path / "gpsi_digits_quick.png").stat().st_size > 0
    assert (tmp_path / "gpsi_steps_quick.png").stat().st_size > 0

    # --resume reads the raw files back instead of recomputing
    path = gpsi.raw_path(tmp_path, "mcar90", "TM-hon")
    saved = json.loads(path.read_text())
    saved["nll"] = -1.0
    path.write_text(json.dumps(saved))
    again, _ = gpsi.run(
        "quick",
        out_dir=tmp_path,
        resume=True,
        settings=("mcar90",),
        methods=("TM-hon",),
        steps=False,
        budget=TINY,
        data_home=shared_datasets_dir,
        log=lambda *a: None,
    )
    assert again[0]["nll"] == -1.0

    # --report-only rebuilds the tables from every raw file of the profile, run nothing
    (tmp_path / "gpsi_mnist_quick.md").unlink()
    assert gpsi.main(["--profile", "quick", "--report-only", "--out-dir", str(tmp_path)]) == 0
    text = (tmp_path / "gpsi_mnist_quick.md").read_text()
    assert "| GPSI-add |" in text and "| mcar90 | TM-hon | -1.0 |" in text
    assert "## Refinement steps" in text
    with pytest.raises(SystemExit):
        gpsi.main(["--profile", "medium", "--report-only", "--out-dir", str(tmp_path)])


def test_template_matching_finds_the_nearest_image_on_known_pixels():
    rng = np.random.default_rng(0)
    X_train = rng.random((20, 16))
    X = X_train[[3, 7]] + 0.01
    mask = rng.random(X.shape) < 0.5
    templates = gpsi.nearest_templates(np.where(mask, X, np.nan), mask, X_train)
    assert np.array_equal(templates, X_train[[3, 7]])


def test_bernoulli_nll_counts_missing_pixels_only():
    X = np.array([[0.0, 1.0, 0.5]])
    mask = np.array([[True, False, False]])
    nll = gpsi.bernoulli_nll(X, np.array([[0.9, 0.5, 0.5]]), mask)
    assert nll == pytest.approx([2 * np.log(2)])
