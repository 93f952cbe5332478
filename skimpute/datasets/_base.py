"""What the dataset loaders share: the data home, checksums and the download helpers.

A loader looks for its file in one folder, the *data home* (see :func:`get_data_home`). When the
file is there it is verified (its SHA-256, or failing that the checksum of its parsed content) and
read. When it is not, the loader downloads the original from its source, parses it into the
canonical table, checks the content checksum of that table, and writes it into the data home. Only
the data home is ever written to, and only after the checksum matched.
"""

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

#: Name of the environment variable that points at the data home.
DATA_HOME_ENV = "SKIMPUTE_DATA"

#: Seconds a download may wait for the server before it is abandoned.
_DOWNLOAD_TIMEOUT = 60

_USER_AGENT = "skimpute-datasets (python-urllib)"


def get_data_home(data_home=None):
    """Return the path of the skimpute data folder.

    The loaders of :mod:`skimpute.datasets` read their local copies from this folder and write
    what they download into it, and nowhere else. The folder is chosen, in this order, by:

    1. the ``data_home`` argument, when it is not None;
    2. the ``SKIMPUTE_DATA`` environment variable, when it is set and not empty;
    3. the default cache folder ``~/skimpute_data``.

    A leading ``~`` is expanded to the user's home folder. Unlike
    :func:`sklearn.datasets.get_data_home`, the folder is not created here: a loader creates it
    only when it writes a download into it, so reading a shared read-only copy leaves no trace.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data folder. If None, the ``SKIMPUTE_DATA`` environment variable is used, and if that
        is unset, ``~/skimpute_data``.

    Returns
    -------
    data_home : str
        The absolute path of the data folder (which may not exist yet).

    See Also
    --------
    load_uci : Load a UCI dataset of the tabular benchmarks.
    load_mnist_test_images : Load the MNIST test images.

    Examples
    --------
    >>> from skimpute.datasets import get_data_home
    >>> get_data_home("/srv/data")
    '/srv/data'
    """
    return str(_resolve_data_home(data_home)[0])


def _resolve_data_home(data_home=None):
    """Return ``(path, how)``: the data home and, in words, where that choice came from."""
    if data_home is not None:
        path, how = os.fspath(data_home), "the data_home argument"
    elif os.environ.get(DATA_HOME_ENV):
        path, how = os.environ[DATA_HOME_ENV], f"the {DATA_HOME_ENV} environment variable"
    else:
        path, how = os.path.join("~", "skimpute_data"), "the default cache folder"
    return Path(os.path.abspath(os.path.expanduser(path))), how


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------


def _sha256_file(path, chunk_size=1 << 20):
    """Return the hex SHA-256 of the bytes of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _table_checksum(frame):
    """Return the hex SHA-256 of a table's content, independent of its file format.

    The serialisation is: a version tag, the shape, then for each column in order its name and
    either its values as little-endian float64 bytes (numeric columns, integers included) or its
    values as text joined by the unit separator (any other column). Two files that parse into
    the same column names and the same values have the same checksum, whatever their
    separators, quoting, line endings or number formatting.
    """
    digest = hashlib.sha256()
    digest.update(b"skimpute-table-v1\0")
    digest.update(f"{frame.shape[0]}x{frame.shape[1]}\0".encode())
    for name in frame.columns:
        column = frame[name]
        digest.update(str(name).encode("utf-8") + b"\0")
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            values = np.ascontiguousarray(column.to_numpy(dtype=np.float64), dtype="<f8")
            digest.update(b"f8\0" + values.tobytes())
        else:
            text = "\x1f".join(str(v) for v in column.tolist())
            digest.update(b"str\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _array_checksum(array):
    """Return the hex SHA-256 of an array's dtype, shape and C-ordered bytes."""
    array = np.asarray(array)
    digest = hashlib.sha256()
    digest.update(b"skimpute-array-v1\0")
    digest.update(f"{array.dtype.str}|{array.shape}\0".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Local copies and downloads
# --------------------------------------------------------------------------------------------


def _as_url_list(urls):
    return [urls] if isinstance(urls, str) else list(urls)


def _fetch_url(url, timeout=None):
    """Return the bytes served at ``url`` (urllib, with a timeout)."""
    timeout = _DOWNLOAD_TIMEOUT if timeout is None else timeout
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    # A fresh opener per call, so that the proxy environment variables are read now.
    opener = urllib.request.build_opener()
    with opener.open(request, timeout=timeout) as response:
        return response.read()


def _describe_error(exc):
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP error {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def _corrupt_file_error(path, what, detail):
    return OSError(
        f"The local copy of {what} at {path} is corrupt or truncated: {detail}. "
        "Delete it (the loader then downloads a fresh copy, or you can put a good copy in its "
        "place) and call the loader again."
    )


def _load_local(path, *, what, read, file_sha256, content_checksum, checksum):
    """Read and verify a local copy.

    The file is accepted when its SHA-256 is ``file_sha256`` or, failing that, when the
    checksum of its parsed content is ``content_checksum`` (a copy written by another pandas or
    numpy version, or with other line endings, holds the same data in different bytes).
    """
    digest = _sha256_file(path)
    try:
        obj = read(path)
    except Exception as exc:  # any parse failure means the file is not what it should be
        raise _corrupt_file_error(
            path, what, f"it could not be read ({type(exc).__name__}: {exc})"
        ) from exc
    if digest == file_sha256:
        return obj
    got = checksum(obj)
    if got != content_checksum:
        raise _corrupt_file_error(
            path,
            what,
            f"its SHA-256 is {digest} (expected {file_sha256}) and the checksum of its "
            f"content is {got} (expected {content_checksum})",
        )
    return obj


def _write_atomically(path, write):
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load_or_download(
    *,
    what,
    filename,
    data_home,
    download_if_missing,
    read,
    write,
    checksum,
    file_sha256,
    content_checksum,
    urls,
    parse_download,
    before_download=None,
):
    """Return ``(obj, path)``: the verified local copy, downloading it first when missing.

    Parameters
    ----------
    what : str
        The dataset, in words, for the messages.
    filename : str
        The name of the local copy inside the data home.
    data_home : str, path-like or None
        See :func:`get_data_home`.
    download_if_missing : bool
        Whether to download when the local copy is missing.
    read : callable
        ``read(path) -> obj``, parses a local copy into the canonical object.
    write : callable
        ``write(obj, path)``, writes the canonical object to a local copy.
    checksum : callable
        ``checksum(obj) -> str``, the content checksum.
    file_sha256, content_checksum : str
        The expected SHA-256 of the local copy's bytes and the expected content checksum.
    urls : str or sequence of str
        Where to download the original, tried in order.
    parse_download : callable
        ``parse_download(raw_bytes) -> obj``, parses a download into the canonical object.
    before_download : callable or None
        Called once before anything is downloaded (for example to check an optional
        dependency the parse needs).
    """
    home, how = _resolve_data_home(data_home)
    path = home / filename
    if path.is_file():
        obj = _load_local(
            path,
            what=what,
            read=read,
            file_sha256=file_sha256,
            content_checksum=content_checksum,
            checksum=checksum,
        )
        return obj, path

    urls = _as_url_list(urls)
    looked = f"  {path} (data home from {how}): not found\n"
    hint = (
        f"Put a copy of {filename!r} in that folder, pass data_home= a folder that holds one, "
        f"or set the {DATA_HOME_ENV} environment variable to such a folder."
    )
    if not download_if_missing:
        raise FileNotFoundError(
            f"{what} was not found locally and download_if_missing=False.\n"
            f"Looked for:\n{looked}"
            "Not downloaded from:\n" + "".join(f"  {u}\n" for u in urls) + hint
        )

    if before_download is not None:
        before_download()
    failures = []
    for url in urls:
        try:
            raw = _fetch_url(url)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # network, bad URL
            failures.append(f"  {url}: download failed ({_describe_error(exc)})\n")
            continue
        try:
            obj = parse_download(raw)
        except ImportError:
            raise
        except Exception as exc:
            failures.append(
                f"  {url}: the download could not be parsed ({type(exc).__name__}: {exc})\n"
            )
            continue
        got = checksum(obj)
        if got != content_checksum:
            failures.append(
                f"  {url}: content checksum mismatch: the parsed download has checksum {got}, "
                f"expected {content_checksum}; the download is corrupt, truncated or not the "
                "expected version, and nothing was written\n"
            )
            continue
        try:
            _write_atomically(path, lambda tmp: write(obj, tmp))
        except OSError as exc:
            raise OSError(
                f"{what} was downloaded from {url} and verified, but it could not be written "
                f"to {path} ({_describe_error(exc)}). Pass data_home= or set "
                f"{DATA_HOME_ENV} to a folder you can write to."
            ) from exc
        return obj, path

    raise OSError(
        f"{what} was not found locally and could not be downloaded.\n"
        f"Looked for:\n{looked}"
        "Tried to download from:\n" + "".join(failures) + hint
    )
