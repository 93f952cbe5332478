"""Tests of skimpute.datasets: local copies, checksums, and the download path (loopback only)."""

import gzip
import io
import shutil
import struct
import sys
import threading
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from skimpute.datasets import (
    UCI_DATASETS,
    _base,
    _mnist,
    _uci,
    get_data_home,
    load_mnist_test_images,
    load_uci,
)

EXPECTED = {
    # name: (file, data shape, target, frame columns left out of data besides the target)
    "banknote": ("banknote_authentication.csv", (1372, 4), "class", ()),
    "concrete": ("concrete_compressive_strength.csv", (1030, 8), "strength", ()),
    "red_wine": ("winequality_red.csv", (1599, 11), "quality", ()),
    "white_wine": ("winequality_white.csv", (4898, 11), "quality", ()),
    "yeast": ("yeast.csv", (1484, 8), "class", ()),
    "abalone": ("abalone.csv", (4177, 7), "rings", ("sex",)),
}

# ../shared/paper_results/README.md, "Protocol check (measured)": mean imputation RMSE after
# dropping the target/label columns, standardising, and removing every entry above its column
# mean in the first d // 2 columns.
PAPER_MEAN_RMSE = {
    "white_wine": 1.739,
    "abalone": 1.689,
    "banknote": 1.726,
    "red_wine": 1.838,
    "concrete": 1.847,
    "yeast": 1.729,
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No test may reach the internet: every download URL points at a closed loopback port.

    The home folder and SKIMPUTE_DATA are isolated too, so the default data home is never the
    user's real one.
    """
    closed = "http://127.0.0.1:9/unreachable"
    monkeypatch.setattr(_uci, "_UCI_URLS", {n: f"{closed}/{n}.zip" for n in UCI_DATASETS})
    monkeypatch.setattr(_mnist, "_MNIST_URLS", (f"{closed}/t10k-images-idx3-ubyte.gz",))
    monkeypatch.setattr(_base, "_DOWNLOAD_TIMEOUT", 10)
    monkeypatch.delenv("SKIMPUTE_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "fake_home"))
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


class _Server:
    """A loopback HTTP server serving ``files`` (path -> bytes); 404 for anything else."""

    def __init__(self):
        self.files = {}
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


# --------------------------------------------------------------------------------------------
# Builders of the UCI originals' layouts, from the shared canonical CSVs
# --------------------------------------------------------------------------------------------

WINE_HEADER = ";".join(
    f'"{c}"'
    for c in (
        "fixed acidity",
        "volatile acidity",
        "citric acid",
        "residual sugar",
        "chlorides",
        "free sulfur dioxide",
        "total sulfur dioxide",
        "density",
        "pH",
        "sulphates",
        "alcohol",
        "quality",
    )
)


def _zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buf.getvalue()


def _rows(shared, filename):
    return (shared / filename).read_text().splitlines()[1:]


def _wine_original(shared, filename):
    # UCI's layout: quoted header, semicolons, and integers written without ".0".
    lines = [WINE_HEADER]
    for row in _rows(shared, filename):
        fields = [f[:-2] if f.endswith(".0") else f for f in row.split(",")]
        lines.append(";".join(fields))
    return "\n".join(lines) + "\n"


def _original_archive(name, shared):
    """Return ``(url path, zip bytes)`` of ``name`` in the UCI original layout."""
    if name == "banknote":
        text = "\n".join(_rows(shared, "banknote_authentication.csv")) + "\n"
        return "/267/banknote+authentication.zip", _zip({"data_banknote_authentication.txt": text})
    if name == "abalone":
        text = "\n".join(_rows(shared, "abalone.csv")) + "\n"
        return "/1/abalone.zip", _zip({"abalone.names": "names", "abalone.data": text})
    if name == "yeast":
        text = "".join(
            f"SEQ{i:04d}_YEAST  " + "  ".join(row.split(",")) + "\n"
            for i, row in enumerate(_rows(shared, "yeast.csv"))
        )
        return "/110/yeast.zip", _zip({"yeast.data": text, "yeast.names": "names"})
    if name in ("red_wine", "white_wine"):
        members = {
            "winequality-red.csv": _wine_original(shared, "winequality_red.csv"),
            "winequality-white.csv": _wine_original(shared, "winequality_white.csv"),
            "winequality.names": "names",
        }
        return "/186/wine+quality.zip", _zip(members)
    raise AssertionError(name)


def _corrupt_banknote_archive(shared):
    rows = _rows(shared, "banknote_authentication.csv")
    assert rows[0].startswith("3.6216,")
    rows[0] = rows[0].replace("3.6216,", "3.6217,", 1)
    return _zip({"data_banknote_authentication.txt": "\n".join(rows) + "\n"})


def _mean_imputation_rmse(X):
    """The papers' protocol: standardise, MNAR-censor the first d // 2 columns, impute means."""
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    half = X.shape[1] // 2
    missing = np.zeros(X.shape, dtype=bool)
    missing[:, :half] = X[:, :half] > X[:, :half].mean(axis=0)
    observed_means = np.nanmean(np.where(missing, np.nan, X), axis=0)
    imputed = np.where(missing, observed_means, X)
    return np.sqrt(np.mean((imputed[missing] - X[missing]) ** 2))


# --------------------------------------------------------------------------------------------
# Names and the data home
# --------------------------------------------------------------------------------------------


def test_public_names():
    import skimpute.datasets as module

    assert UCI_DATASETS == ("banknote", "concrete", "red_wine", "white_wine", "yeast", "abalone")
    assert module.__all__ == sorted(module.__all__)
    assert set(module.__all__) == {
        "UCI_DATASETS",
        "get_data_home",
        "load_mnist_test_images",
        "load_uci",
        "make_billiards",
    }


@pytest.mark.parametrize(
    "name, suggestion",
    [("winequality_red", "red_wine"), ("Banknote", "banknote"), ("white-wine", "white_wine")],
)
def test_unknown_name_lists_valid_names_and_suggests(name, suggestion):
    with pytest.raises(ValueError, match="Unknown UCI dataset") as info:
        load_uci(name)
    message = str(info.value)
    assert all(repr(n) in message for n in UCI_DATASETS)
    assert f"Did you mean {suggestion!r}?" in message


@pytest.mark.parametrize("name", ["mnist", 3, None])
def test_unknown_name_without_suggestion(name):
    with pytest.raises(ValueError, match="Valid names are: 'banknote', 'concrete'"):
        load_uci(name)


def test_get_data_home_resolution_order(tmp_path, monkeypatch):
    default = tmp_path / "fake_home" / "skimpute_data"
    assert get_data_home() == str(default)
    monkeypatch.setenv("SKIMPUTE_DATA", str(tmp_path / "from_env"))
    assert get_data_home() == str(tmp_path / "from_env")
    assert get_data_home(tmp_path / "explicit") == str(tmp_path / "explicit")
    assert get_data_home("~/x") == str(tmp_path / "fake_home" / "x")
    monkeypatch.setenv("SKIMPUTE_DATA", "")
    assert get_data_home() == str(default)
    # Resolving the folder does not create it.
    assert not (tmp_path / "fake_home").exists()
    assert not (tmp_path / "from_env").exists()


# --------------------------------------------------------------------------------------------
# Loading the shared copies
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", UCI_DATASETS)
def test_load_uci_shared_copy(name, shared_datasets_dir):
    filename, shape, target, excluded = EXPECTED[name]
    bunch = load_uci(name, data_home=shared_datasets_dir)
    assert isinstance(bunch, Bunch)
    assert isinstance(bunch.data, np.ndarray)
    assert bunch.data.shape == shape
    assert bunch.data.dtype == np.float64
    assert np.isfinite(bunch.data).all()
    assert bunch.target.shape == (shape[0],)
    assert bunch.target_names == [target]
    assert bunch.frame is None
    assert bunch.filename == str(shared_datasets_dir / filename)

    header = (shared_datasets_dir / filename).read_text().split("\n", 1)[0].split(",")
    assert bunch.feature_names == [c for c in header if c != target and c not in excluded]
    raw = pd.read_csv(shared_datasets_dir / filename)
    np.testing.assert_array_equal(bunch.data, raw[bunch.feature_names].to_numpy(float))
    np.testing.assert_array_equal(bunch.target, raw[target].to_numpy())

    assert "CC BY 4.0" in bunch.DESCR
    assert "Citation:" in bunch.DESCR
    assert "https://archive.ics.uci.edu/dataset/" in bunch.DESCR


@pytest.mark.parametrize("name", UCI_DATASETS)
def test_load_uci_as_frame(name, shared_datasets_dir):
    filename, shape, target, excluded = EXPECTED[name]
    arrays = load_uci(name, data_home=shared_datasets_dir)
    bunch = load_uci(name, data_home=shared_datasets_dir, as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame)
    assert list(bunch.data.columns) == arrays.feature_names
    np.testing.assert_array_equal(bunch.data.to_numpy(), arrays.data)
    assert isinstance(bunch.target, pd.Series) and bunch.target.name == target
    header = (shared_datasets_dir / filename).read_text().split("\n", 1)[0].split(",")
    assert list(bunch.frame.columns) == header
    assert bunch.frame.shape == (shape[0], len(header))
    for column in excluded:
        assert column in bunch.frame.columns and column not in bunch.data.columns


def test_abalone_sex_is_kept_in_frame_only(shared_datasets_dir):
    bunch = load_uci("abalone", data_home=shared_datasets_dir, as_frame=True)
    assert bunch.frame["sex"].value_counts().to_dict() == {"M": 1528, "I": 1342, "F": 1307}
    assert "sex" not in bunch.feature_names
    assert "sex" in bunch.DESCR


def test_targets(shared_datasets_dir):
    home = shared_datasets_dir
    banknote = load_uci("banknote", data_home=home)
    assert banknote.target.dtype == np.int64
    assert np.bincount(banknote.target).tolist() == [762, 610]
    yeast = load_uci("yeast", data_home=home, as_frame=True)
    assert yeast.target.value_counts().to_dict()["CYT"] == 463
    assert yeast.target.nunique() == 10
    red = load_uci("red_wine", data_home=home, as_frame=True)
    assert red.target.value_counts().sort_index().to_dict() == {
        3: 10,
        4: 53,
        5: 681,
        6: 638,
        7: 199,
        8: 18,
    }
    concrete = load_uci("concrete", data_home=home)
    assert concrete.target.dtype == np.float64
    assert load_uci("concrete", data_home=home, as_frame=True).frame["age"].dtype == np.int64


def test_return_X_y(shared_datasets_dir):
    X, y = load_uci("banknote", data_home=shared_datasets_dir, return_X_y=True)
    assert X.shape == (1372, 4) and y.shape == (1372,)
    X, y = load_uci("yeast", data_home=shared_datasets_dir, as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)


@pytest.mark.parametrize("name", UCI_DATASETS)
def test_data_reproduces_the_papers_mean_imputation_rmse(name, shared_datasets_dir):
    # Checks that ``data`` holds exactly the columns the papers' benchmarks use.
    X = load_uci(name, data_home=shared_datasets_dir).data
    assert _mean_imputation_rmse(X) == pytest.approx(PAPER_MEAN_RMSE[name], abs=6e-4)


@pytest.mark.parametrize("name", UCI_DATASETS)
def test_content_checksum_constants_match_shared_copies(name, shared_datasets_dir):
    frame = load_uci(name, data_home=shared_datasets_dir, as_frame=True).frame
    spec = _uci._SPECS[name]
    assert _base._table_checksum(frame) == spec.content_checksum
    assert _base._sha256_file(shared_datasets_dir / spec.filename) == spec.file_sha256


def test_data_home_from_environment(shared_datasets_dir, monkeypatch):
    monkeypatch.setenv("SKIMPUTE_DATA", str(shared_datasets_dir))
    assert load_uci("banknote").data.shape == (1372, 4)
    assert load_mnist_test_images().shape == (10000, 28, 28)


def test_explicit_data_home_wins_over_environment(shared_datasets_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("SKIMPUTE_DATA", str(shared_datasets_dir))
    with pytest.raises(FileNotFoundError, match="data home from the data_home argument"):
        load_uci("banknote", data_home=tmp_path, download_if_missing=False)


def test_load_mnist_test_images_shared_copy(shared_datasets_dir):
    images = load_mnist_test_images(data_home=shared_datasets_dir)
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    assert images.mean() == pytest.approx(33.79, abs=0.01)
    assert images.flags.writeable
    assert _base._array_checksum(images) == _mnist._MNIST_CONTENT_CHECKSUM


# --------------------------------------------------------------------------------------------
# Missing and corrupt local copies
# --------------------------------------------------------------------------------------------


def test_missing_file_and_download_disabled(tmp_path):
    home = tmp_path / "empty"
    with pytest.raises(FileNotFoundError) as info:
        load_uci("red_wine", data_home=home, download_if_missing=False)
    message = str(info.value)
    assert str(home / "winequality_red.csv") in message
    assert _uci._UCI_URLS["red_wine"] in message
    assert "SKIMPUTE_DATA" in message
    assert not home.exists()

    with pytest.raises(FileNotFoundError, match="mnist_test_images.npz") as info:
        load_mnist_test_images(data_home=home, download_if_missing=False)
    assert _mnist._MNIST_URLS[0] in str(info.value)


def test_missing_file_and_download_fails_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("SKIMPUTE_DATA", str(tmp_path / "env_home"))
    with pytest.raises(OSError, match="could not be downloaded") as info:
        load_uci("abalone")
    message = str(info.value)
    assert str(tmp_path / "env_home" / "abalone.csv") in message
    assert "SKIMPUTE_DATA environment variable" in message
    assert f"{_uci._UCI_URLS['abalone']}: download failed" in message
    assert not (tmp_path / "env_home").exists()


def _alter_value(data):
    assert b"3.6216," in data
    return data.replace(b"3.6216,", b"3.6217,", 1)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_alter_value, id="altered-value"),
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b.replace(b"curtosis", b"kurtosis"), id="renamed-column"),
        pytest.param(lambda b: b"\x00\x01not a csv", id="garbage"),
    ],
)
def test_corrupt_local_uci_copy(damage, shared_datasets_dir, tmp_path):
    path = tmp_path / "banknote_authentication.csv"
    path.write_bytes(damage((shared_datasets_dir / path.name).read_bytes()))
    with pytest.raises(OSError, match="corrupt or truncated") as info:
        load_uci("banknote", data_home=tmp_path)
    assert str(path) in str(info.value)
    assert "Delete it" in str(info.value)


def test_local_copy_with_other_bytes_but_same_content_is_accepted(shared_datasets_dir, tmp_path):
    original = (shared_datasets_dir / "yeast.csv").read_bytes()
    (tmp_path / "yeast.csv").write_bytes(original.replace(b"\n", b"\r\n"))
    bunch = load_uci("yeast", data_home=tmp_path)
    np.testing.assert_array_equal(bunch.data, load_uci("yeast", data_home=shared_datasets_dir).data)


def test_reading_writes_nothing(shared_datasets_dir, tmp_path):
    shutil.copy(shared_datasets_dir / "banknote_authentication.csv", tmp_path)
    load_uci("banknote", data_home=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["banknote_authentication.csv"]


@pytest.mark.parametrize("damage", ["altered", "truncated", "wrong-shape"])
def test_corrupt_local_mnist_copy(damage, shared_datasets_dir, tmp_path):
    path = tmp_path / "mnist_test_images.npz"
    if damage == "truncated":
        path.write_bytes((shared_datasets_dir / path.name).read_bytes()[:100_000])
    else:
        images = load_mnist_test_images(data_home=shared_datasets_dir)
        if damage == "altered":
            images[0, 14, 14] ^= 1
        else:
            images = images[:100]
        np.savez_compressed(path, data=images)
    with pytest.raises(OSError, match="corrupt or truncated"):
        load_mnist_test_images(data_home=tmp_path)


def test_resaved_mnist_copy_is_accepted(shared_datasets_dir, tmp_path):
    images = load_mnist_test_images(data_home=shared_datasets_dir)
    np.savez(tmp_path / "mnist_test_images.npz", data=images)
    np.testing.assert_array_equal(load_mnist_test_images(data_home=tmp_path), images)


# --------------------------------------------------------------------------------------------
# Downloads, from a loopback server serving the original layouts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["banknote", "red_wine", "white_wine", "yeast", "abalone"])
def test_download_uci_original(name, shared_datasets_dir, server, monkeypatch, tmp_path):
    url_path, archive = _original_archive(name, shared_datasets_dir)
    server.files[url_path] = archive
    monkeypatch.setitem(_uci._UCI_URLS, name, server.url(url_path))
    home = tmp_path / "cache" / "nested"

    bunch = load_uci(name, data_home=home, as_frame=True)

    filename = EXPECTED[name][0]
    assert server.requests == [url_path]
    # The canonical CSV written is byte for byte the shared copy.
    assert (home / filename).read_bytes() == (shared_datasets_dir / filename).read_bytes()
    assert sorted(p.name for p in home.iterdir()) == [filename]
    reference = load_uci(name, data_home=shared_datasets_dir, as_frame=True)
    pd.testing.assert_frame_equal(bunch.frame, reference.frame)
    assert bunch.filename == str(home / filename)

    # The second call reads the local copy: no further request.
    again = load_uci(name, data_home=home)
    np.testing.assert_array_equal(again.data, reference.data.to_numpy())
    assert server.requests == [url_path]


def test_download_bare_file_instead_of_archive(shared_datasets_dir, server, monkeypatch, tmp_path):
    text = "\n".join(_rows(shared_datasets_dir, "abalone.csv")) + "\n"
    server.files["/abalone.data"] = text.encode()
    monkeypatch.setitem(_uci._UCI_URLS, "abalone", server.url("/abalone.data"))
    assert load_uci("abalone", data_home=tmp_path).data.shape == (4177, 7)


@pytest.mark.parametrize("failure", ["checksum-mismatch", "http-404", "wrong-archive"])
def test_download_failure_writes_nothing(
    failure, shared_datasets_dir, server, monkeypatch, tmp_path
):
    url_path = "/267/banknote+authentication.zip"
    if failure == "checksum-mismatch":
        server.files[url_path] = _corrupt_banknote_archive(shared_datasets_dir)
        expected = "content checksum mismatch"
    elif failure == "wrong-archive":
        server.files[url_path] = _zip({"something_else.txt": "1,2,3\n"})
        expected = "has no file 'data_banknote_authentication.txt'"
    else:
        expected = "HTTP error 404"
    url = server.url(url_path)
    monkeypatch.setitem(_uci._UCI_URLS, "banknote", url)
    home = tmp_path / "cache"

    with pytest.raises(OSError, match="could not be downloaded") as info:
        load_uci("banknote", data_home=home)

    message = str(info.value)
    assert f"{url}: " in message and expected in message
    assert str(home / "banknote_authentication.csv") in message
    assert "SKIMPUTE_DATA" in message
    assert server.requests == [url_path]
    assert not home.exists()


def test_download_into_unwritable_place_says_so(shared_datasets_dir, server, monkeypatch, tmp_path):
    url_path, archive = _original_archive("banknote", shared_datasets_dir)
    server.files[url_path] = archive
    monkeypatch.setitem(_uci._UCI_URLS, "banknote", server.url(url_path))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="could not be written to"):
        load_uci("banknote", data_home=blocker / "sub")


def test_concrete_download_needs_xlrd(monkeypatch, tmp_path, server):
    monkeypatch.setitem(_uci._UCI_URLS, "concrete", server.url("/concrete.zip"))
    monkeypatch.setitem(sys.modules, "xlrd", None)  # makes ``import xlrd`` fail
    with pytest.raises(ImportError, match=r"pip install xlrd"):
        load_uci("concrete", data_home=tmp_path)
    assert server.requests == []  # checked before downloading anything


def test_concrete_download_parses_the_xls_sheet(shared_datasets_dir, server, monkeypatch, tmp_path):
    # No .xls writer is available, so stand in for xlrd with the sheet as pandas reads it:
    # UCI's long column names, and every cell a float (age included).
    canonical = pd.read_csv(shared_datasets_dir / "concrete_compressive_strength.csv")
    sheet = canonical.astype(float)
    sheet.columns = [f"Original column {i} (units)" for i in range(9)]

    def fake_read_excel(content):
        assert content == b"fake xls bytes"
        return sheet.copy()

    monkeypatch.setitem(sys.modules, "xlrd", types.ModuleType("xlrd"))
    monkeypatch.setattr(_uci, "_read_excel", fake_read_excel)
    url_path = "/165/concrete+compressive+strength.zip"
    server.files[url_path] = _zip({"Concrete_Data.xls": b"fake xls bytes", "Readme.txt": "r"})
    monkeypatch.setitem(_uci._UCI_URLS, "concrete", server.url(url_path))

    bunch = load_uci("concrete", data_home=tmp_path)

    assert bunch.data.shape == (1030, 8)
    written = (tmp_path / "concrete_compressive_strength.csv").read_bytes()
    assert written == (shared_datasets_dir / "concrete_compressive_strength.csv").read_bytes()


def _idx(images, magic=0x00000803):
    header = struct.pack(">iiii", magic, *images.shape)
    return gzip.compress(header + images.tobytes(), compresslevel=1)


def test_download_mnist_idx_tries_each_url(shared_datasets_dir, server, monkeypatch, tmp_path):
    images = load_mnist_test_images(data_home=shared_datasets_dir)
    server.files["/mirror/t10k-images-idx3-ubyte.gz"] = _idx(images)
    urls = (
        server.url("/gone/t10k-images-idx3-ubyte.gz"),
        server.url("/mirror/t10k-images-idx3-ubyte.gz"),
    )
    monkeypatch.setattr(_mnist, "_MNIST_URLS", urls)
    home = tmp_path / "cache"

    got = load_mnist_test_images(data_home=home)

    np.testing.assert_array_equal(got, images)
    assert got.dtype == np.uint8
    assert sorted(p.name for p in home.iterdir()) == ["mnist_test_images.npz"]
    assert len(server.requests) == 2
    # The written copy differs in bytes from the shared one (zip metadata) but is accepted by
    # its content checksum, without another download.
    server.files.clear()
    np.testing.assert_array_equal(load_mnist_test_images(data_home=home), images)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "payload, expected",
    [
        (lambda im: _idx(im, magic=0x00000801), "magic number 0x00000801"),
        (lambda im: _idx(im)[:-1000], "could not be parsed"),
        (lambda im: _idx(im[:, :, ::-1].copy()), "content checksum mismatch"),
    ],
    ids=["bad-magic", "truncated", "wrong-content"],
)
def test_download_mnist_failures(
    payload, expected, shared_datasets_dir, server, monkeypatch, tmp_path
):
    images = load_mnist_test_images(data_home=shared_datasets_dir)
    server.files["/t10k.gz"] = payload(images)
    urls = (server.url("/t10k.gz"), server.url("/missing.gz"))
    monkeypatch.setattr(_mnist, "_MNIST_URLS", urls)
    with pytest.raises(OSError, match="could not be downloaded") as info:
        load_mnist_test_images(data_home=tmp_path / "cache")
    message = str(info.value)
    assert expected in message
    assert all(url in message for url in urls)
    assert "HTTP error 404" in message
    assert not (tmp_path / "cache").exists()


def test_parse_idx_images_roundtrip():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = struct.pack(">iiii", 0x803, 2, 3, 4) + images.tobytes()
    np.testing.assert_array_equal(_mnist._parse_idx_images(raw), images)
    np.testing.assert_array_equal(_mnist._parse_idx_images(gzip.compress(raw)), images)
    with pytest.raises(ValueError, match="16-byte header"):
        _mnist._parse_idx_images(raw[:10])
    with pytest.raises(ValueError, match="bytes follow it"):
        _mnist._parse_idx_images(raw + b"\x00")


def test_table_checksum_is_format_independent_and_value_sensitive():
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.0], "c": ["x", "y"]})
    same_values = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 1.0], "c": ["x", "y"]})
    assert _base._table_checksum(frame) == _base._table_checksum(same_values)
    for other in (
        frame.assign(b=[0.5, 1.0 + 1e-15]),
        frame.assign(c=["x", "z"]),
        frame.rename(columns={"a": "A"}),
        frame.iloc[:1],
    ):
        assert _base._table_checksum(other) != _base._table_checksum(frame)


def test_download_only_writes_into_data_home(shared_datasets_dir, server, monkeypatch, tmp_path):
    url_path, archive = _original_archive("banknote", shared_datasets_dir)
    server.files[url_path] = archive
    monkeypatch.setitem(_uci._UCI_URLS, "banknote", server.url(url_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKIMPUTE_DATA", str(tmp_path / "env_home"))
    load_uci("banknote")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == ["env_home", str(Path("env_home") / "banknote_authentication.csv")]
