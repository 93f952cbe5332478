"""The memory benchmark's pieces, on a tiny model and a few hundred rows."""

import pickle

import numpy as np
import pytest

from benchmarks.memory import N_FEATURES, make_block, run_case, to_markdown, write_input
from skimpute import NotMIWAEImputer


def test_data_blocks_are_seeded_and_twenty_percent_missing(tmp_path):
    a, b = make_block(2000, seed=3), make_block(2000, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2000, N_FEATURES)
    assert np.isnan(a).mean() == pytest.approx(0.2, abs=0.01)
    write_input(tmp_path / "X.npy", 250)
    X = np.load(tmp_path / "X.npy")
    assert X.shape == (250, N_FEATURES) and np.isnan(X).any()


@pytest.mark.parametrize("mode", ["chunked", "plain"])
def test_a_case_records_memory_and_checks_the_output(tmp_path, mode):
    model = NotMIWAEImputer(
        hidden_layer_sizes=(8,), max_epochs=1, n_imputation_samples=4, random_state=0
    ).fit(make_block(200, seed=1))
    with open(tmp_path / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    write_input(tmp_path / "X.npy", 300)
    spec = {
        "mode": mode,
        "model": str(tmp_path / "model.pkl"),
        "input": str(tmp_path / "X.npy"),
        "output": str(tmp_path / "out.npy"),
        "chunk_size": 100,
    }
    record = run_case(spec)
    assert record["output_ok"] and record["n_rows"] == 300
    assert record["n_imputation_samples"] == 4
    assert record["seconds"] > 0 and record["tracemalloc_peak_mb"] > 0
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(out, model.transform(np.load(tmp_path / "X.npy")))
    text = to_markdown([record], fit_seconds=1.0)
    assert f"| {mode} | 4 | 300 |" in text and "| yes |" in text  # mode, L, rows
