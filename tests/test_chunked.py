"""transform_in_chunks: bit for bit the transform of the whole array, over arrays and memmaps."""

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skimpute import transform_in_chunks
from skimpute._base import _row_offset
from skimpute._chunked import _release_pages
from tests.test_common import TABULAR_NN_ONE_EPOCH

torch.set_num_threads(1)

ESTIMATORS = TABULAR_NN_ONE_EPOCH
IDS = [type(e).__name__ for e in ESTIMATORS]


def nan_data(n=150, d=5, seed=0, frac=0.25):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3.0
    X[rng.random(X.shape) < frac] = np.nan
    return X


def fitted(estimator, X, rows_per_chunk=13):
    """Fit, then shrink the memory budget so that transform works in chunks of a few rows."""
    imp = clone(estimator).fit(X)
    imp._transform_memory_bytes = 4 * imp._floats_per_row(X.shape[1]) * rows_per_chunk
    assert imp._rows_per_chunk(X.shape[1]) == rows_per_chunk
    return imp


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_equals_transform_bit_for_bit(estimator):
    X = nan_data()
    imp = fitted(estimator, X)
    full = imp.transform(X)
    for chunk_size in (1, 20, 64, 1000):
        np.testing.assert_array_equal(transform_in_chunks(imp, X, chunk_size=chunk_size), full)
    # what the row offset is for: a block transformed on its own draws other random numbers
    assert not np.array_equal(imp.transform(X[26:52]), full[26:52])
    with _row_offset(26):
        np.testing.assert_array_equal(imp.transform(X[26:52]), full[26:52])
    np.testing.assert_array_equal(imp.transform(X[26:52]), transform_in_chunks(imp, X[26:52]))


def test_memmap_in_and_out_read_only_input(tmp_path):
    X = nan_data().astype(np.float32)
    imp = fitted(ESTIMATORS[0], X)
    full = imp.transform(X)
    np.save(tmp_path / "X.npy", X)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert not X_map.flags.writeable
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    result = transform_in_chunks(imp, X_map, out=out, chunk_size=26)
    assert result is out
    np.testing.assert_array_equal(np.asarray(result), full)
    del out, result
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), full)  # written to the file
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), X)  # input file untouched
    np.testing.assert_array_equal(np.asarray(X_map), X)


def test_in_place_on_a_writable_memmap(tmp_path):
    X = nan_data()
    imp = fitted(ESTIMATORS[1], X)
    full = imp.transform(X)
    np.save(tmp_path / "X.npy", X)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r+")
    assert transform_in_chunks(imp, X_map, out=X_map, chunk_size=26) is X_map
    del X_map
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), full)


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_dataframe_pandas_output_and_sklearn_estimators():
    X = nan_data(n=60)
    X[:, 3] = np.nan  # SimpleImputer drops a column with no observed value: out follows it
    simple = SimpleImputer().fit(X)
    np.testing.assert_array_equal(transform_in_chunks(simple, X, chunk_size=7), simple.transform(X))
    assert transform_in_chunks(simple, X, chunk_size=7).shape == (60, 4)
    X = nan_data(n=60)
    pipe = make_pipeline(StandardScaler(), SimpleImputer()).fit(X)
    np.testing.assert_array_equal(transform_in_chunks(pipe, X, chunk_size=7), pipe.transform(X))
    df = pd.DataFrame(X, columns=list("abcde"), index=np.arange(60)[::-1])
    imp = fitted(ESTIMATORS[0], df).set_output(transform="pandas")
    result = transform_in_chunks(imp, df, chunk_size=13)
    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(result, imp.transform(df).to_numpy())


def test_errors_name_the_problem():
    X = nan_data(n=40)
    with pytest.raises(NotFittedError):
        transform_in_chunks(clone(ESTIMATORS[0]), X)
    with pytest.raises(TypeError, match="transform method"):
        transform_in_chunks(object(), X)
    imp = SimpleImputer().fit(X)
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
            transform_in_chunks(imp, X, chunk_size=bad)
    with pytest.raises(TypeError, match="needs its shape"):
        transform_in_chunks(imp, X.tolist())
    with pytest.raises(TypeError, match="out must be an ndarray"):
        transform_in_chunks(imp, X, out=[[0.0] * 5] * 40)
    with pytest.raises(ValueError, match="X has 40 rows"):
        transform_in_chunks(imp, X, out=np.empty((39, 5)))
    with pytest.raises(ValueError, match=r"shape \(40, 4\).*transform of X has shape \(40, 5\)"):
        transform_in_chunks(imp, X, out=np.empty((40, 4)))
    with pytest.raises(ValueError, match="dtype float32.*dtype float64"):
        transform_in_chunks(imp, X, out=np.empty((40, 5), dtype=np.float32))
    read_only = np.empty((40, 5))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        transform_in_chunks(imp, X, out=read_only)
    buffer = np.vstack([X, X[:1]])
    with pytest.raises(ValueError, match="overlaps the memory of X"):
        transform_in_chunks(imp, buffer[:40], out=buffer[1:])
    with pytest.raises(ValueError, match="0 sample"):  # the estimator's own check
        transform_in_chunks(imp, X[:0])


def test_pages_of_processed_blocks_are_released(tmp_path):
    status = "/proc/self/status"
    try:
        open(status).close()
    except OSError:
        pytest.skip("needs /proc/self/status (Linux)")

    def rss_file_kb():
        with open(status) as fh:
            for line in fh:
                if line.startswith("RssFile:"):
                    return int(line.split()[1])
        pytest.skip("no RssFile in /proc/self/status")

    n, d = 200_000, 30  # 48 MB per file
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=(n, d))
    X[:] = 1.0
    del X
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float64, shape=(n, d))
    identity = FunctionTransformer(lambda A: A * 2.0).fit(X[:10])
    before = rss_file_kb()
    transform_in_chunks(identity, X, out=out, chunk_size=10_000)
    grown_mb = (rss_file_kb() - before) / 1024
    assert grown_mb < 8, f"{grown_mb:.1f} MB of file pages stayed resident"
    assert float(out[-1, -1]) == 2.0 and float(out.sum()) == 2.0 * n * d


def test_release_leaves_data_and_copy_on_write_maps_alone(tmp_path):
    np.save(tmp_path / "A.npy", np.arange(4096.0).reshape(512, 8))
    copy_on_write = np.load(tmp_path / "A.npy", mmap_mode="c")
    copy_on_write[:] = -1.0  # changes that live only in this process
    _release_pages(copy_on_write, 0, 512)
    assert (np.asarray(copy_on_write) == -1.0).all()
    shared = np.load(tmp_path / "A.npy", mmap_mode="r+")
    shared[:256] = 7.0
    _release_pages(shared, 0, 512)
    assert (shared[:256] == 7.0).all() and shared[511, 7] == 4095.0
    plain = np.ones((512, 8))
    _release_pages(plain, 0, 512)
    assert (plain == 1.0).all()


def test_the_large_data_page_examples_run(tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parents[1] / "docs" / "large_data.rst").read_text()
    blocks = [
        "\n".join(line[4:] for line in match.group(1).splitlines()) + "\n"
        for match in re.finditer(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", text)
    ]
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:  # the third block uses the first's imputer
        exec(compile(block, "docs/large_data.rst", "exec"), namespace)
    assert namespace["imputer"].n_epochs_ == 8
    # the NAOMI block: fit's schedule over the calls, and the checkpoint of the last epoch
    naomi = namespace["naomi"]
    assert naomi.net_.history[:, "stage"] == ["teacher_forcing"] * 2 + ["free_running"]
    assert pickle.loads((tmp_path / "naomi.pkl").read_bytes()).n_epochs_ == 3
    assert not np.isnan(np.load(tmp_path / "imputed.npy")).any()
