"""The benchmark runner: cells, raw files, resuming and the report."""

import json

import numpy as np
import pytest

from benchmarks.__main__ import main
from benchmarks._data import load_complete, self_masking_task
from benchmarks._measure import measure
from benchmarks._report import paper_value
from benchmarks._runner import raw_path, run_suite
from benchmarks._suites import NOT_MIWAE_TABLE1, SUITES


def test_breast_protocol_matches_the_papers_mean_row():
    X, X_missing, mask = self_masking_task("breast", p=1.0, seed=0)
    assert X.shape == (569, 30)
    assert np.allclose(X.mean(axis=0), 0) and np.allclose(X.std(axis=0), 1)
    # Only the first 15 columns lose values, and exactly those above the column mean.
    assert mask[:, 15:].all()
    assert np.array_equal(~mask[:, :15], X[:, :15] > 0)
    means = np.nanmean(X_missing, axis=0)
    rmse = np.sqrt(np.mean((X - means)[~mask] ** 2))
    assert rmse == pytest.approx(1.82, abs=0.005)


def test_run_suite_writes_raw_files_and_resumes(tmp_path):
    suite = SUITES["quick"]
    records = run_suite(suite, methods=("mean",), n_seeds=2, out_dir=tmp_path, log=lambda *a: None)
    assert [r["seed"] for r in records] == [0, 1]
    for seed in (0, 1):
        path = raw_path(tmp_path, suite, "breast", "mean", seed)
        saved = json.loads(path.read_text())
        assert saved["rmse"] == pytest.approx(1.82, abs=0.005)
        assert saved["machine"]
    # A resumed run reads the files back instead of recomputing: mark one and see it return.
    path = raw_path(tmp_path, suite, "breast", "mean", 0)
    saved = json.loads(path.read_text())
    saved["rmse"] = -1.0
    path.write_text(json.dumps(saved))
    resumed = run_suite(
        suite, methods=("mean",), n_seeds=2, resume=True, out_dir=tmp_path, log=lambda *a: None
    )
    assert resumed[0]["rmse"] == -1.0
    fresh = run_suite(suite, methods=("mean",), n_seeds=1, out_dir=tmp_path, log=lambda *a: None)
    assert fresh[0]["rmse"] == pytest.approx(1.82, abs=0.005)


def test_unknown_method_is_named(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        run_suite(SUITES["quick"], methods=("nope",), out_dir=tmp_path)


def test_cli_writes_report_with_paper_numbers(tmp_path, capsys, shared_paper_results):
    main(
        [
            "--suite",
            "quick",
            "--methods",
            "mean",
            "MICE",
            "--seeds",
            "1",
            "--out-dir",
            str(tmp_path),
        ]
    )
    text = (tmp_path / "quick.md").read_text()
    assert "| breast | mean | 1 | 1.820 |" in text
    # The paper's numbers stand beside ours: not-MIWAE Table 1 has mean 1.82, MICE 1.17.
    assert text.splitlines()[-2].endswith("| 1.82 |")
    assert text.splitlines()[-1].endswith("| 1.17 |")
    assert (tmp_path / "quick.csv").exists()
    assert "RMSE" in capsys.readouterr().out


def test_paper_value_lookup(shared_paper_results):
    assert paper_value(NOT_MIWAE_TABLE1, "banknote", "MissForest", shared_paper_results) == 1.28
    assert paper_value(NOT_MIWAE_TABLE1, "abalone", "mean", shared_paper_results) is None
    assert paper_value(NOT_MIWAE_TABLE1, "breast", "no-such-method", shared_paper_results) is None


def test_uci_datasets_load_standardised(shared_datasets_dir, monkeypatch):
    # With no data home given, the runner reads ../shared/datasets beside the repository.
    monkeypatch.delenv("SKIMPUTE_DATA", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # so load_uci's own cache cannot serve it
    X = load_complete("banknote")
    assert X.shape == (1372, 4)
    assert np.allclose(X.mean(axis=0), 0, atol=1e-12)


def test_measure_sees_an_allocation():
    with measure() as m:
        block = np.ones(50 * 2**20 // 8)  # 50 MiB, touched
        block[::512] = 2.0
    del block
    assert m.seconds > 0
    assert 30 < m.peak_mb < 200
