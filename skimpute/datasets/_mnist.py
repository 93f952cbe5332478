"""Loader for the MNIST test-set images (the image-inpainting benchmarks)."""

import gzip

import numpy as np

from skimpute.datasets._base import _array_checksum, _load_or_download

_MNIST_FILENAME = "mnist_test_images.npz"
_MNIST_FILE_SHA256 = "9bdd410e6bc398f7590d8682fff718d82425d59c88b545126f9ae058d338f09d"
_MNIST_CONTENT_CHECKSUM = "03a234d183c5d7a31325b0256f8c6bbba9601a9d0f345b5dc1abfad4a6059823"
_MNIST_SHAPE = (10000, 28, 28)

#: Where the original IDX file is downloaded from, tried in order: Yann LeCun's page (the
#: original source) and the mirror that torchvision uses. Both serve the same file; the
#: content checksum guards against any difference. Tests point these at a local server.
_MNIST_URLS = (
    "https://yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz",
    "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
)


def _parse_idx_images(raw):
    """Parse an IDX3 unsigned-byte image file (optionally gzipped) into a uint8 array.

    The IDX layout is: the magic number ``0x00000803`` (two zero bytes, type 0x08 =
    unsigned byte, 3 dimensions), the three dimensions as big-endian int32, then the pixels.
    """
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 16:
        raise ValueError(f"an IDX image file has a 16-byte header, got {len(raw)} bytes")
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">i4")
    if magic != 0x00000803:
        raise ValueError(
            f"not an IDX3 unsigned-byte file: magic number {int(magic):#010x}, expected 0x00000803"
        )
    expected = int(n) * int(rows) * int(cols)
    if len(raw) - 16 != expected:
        raise ValueError(
            f"the header gives {int(n)} images of {int(rows)}x{int(cols)} pixels "
            f"({expected} bytes), but {len(raw) - 16} bytes follow it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(int(n), int(rows), int(cols))


def _read_npz(path):
    with np.load(path, allow_pickle=False) as archive:
        data = archive["data"]
    if data.dtype != np.uint8 or data.shape != _MNIST_SHAPE:
        raise ValueError(
            f"its array 'data' has dtype {data.dtype} and shape {data.shape}, expected "
            f"uint8 and {_MNIST_SHAPE}"
        )
    return data


def _write_npz(data, path):
    with open(path, "wb") as f:
        np.savez_compressed(f, data=data)


def load_mnist_test_images(*, data_home=None, download_if_missing=True):
    """Load the 10,000 images of the MNIST test set, without labels.

    The images are read from ``mnist_test_images.npz`` in the data home (see
    :func:`get_data_home`: the ``data_home`` argument, else the ``SKIMPUTE_DATA`` environment
    variable, else ``~/skimpute_data``) and verified by the file's SHA-256, or by the checksum
    of the array it holds. When the file is not there, the original IDX file
    ``t10k-images-idx3-ubyte.gz`` is downloaded (from Yann LeCun's page, then from a mirror),
    parsed, verified by the checksum of the array, and written into the data home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder holding the local copy, and where a download is written. If None, the
        ``SKIMPUTE_DATA`` environment variable, else ``~/skimpute_data``.

    download_if_missing : bool, default=True
        If False, raise a :class:`FileNotFoundError` when the local copy is missing instead of
        downloading it.

    Returns
    -------
    images : ndarray of shape (10000, 28, 28), dtype uint8
        The grey levels, 0 (background) to 255, in the order of the original test set (image 0
        is a "7"). Scale them (for example divide by 255) before imputing.

    Raises
    ------
    FileNotFoundError
        If the local copy is missing and ``download_if_missing`` is False. The message gives
        the path looked at and the URLs that would have been used.
    OSError
        If the local copy is corrupt or truncated, or if it is missing and every download
        fails or does not match the checksum. The message gives every path looked at and
        every URL tried, and why each failed.

    Notes
    -----
    MNIST: Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of handwritten
    digits", http://yann.lecun.com/exdb/mnist/. Its licence is commonly given as CC BY-SA 3.0.

    See Also
    --------
    get_data_home : Where the local copy is looked for and a download written.
    load_uci : The UCI tables of the tabular benchmarks.

    Examples
    --------
    >>> from skimpute.datasets import load_mnist_test_images
    >>> images = load_mnist_test_images()  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    images, _ = _load_or_download(
        what=f"The MNIST test images ({_MNIST_FILENAME})",
        filename=_MNIST_FILENAME,
        data_home=data_home,
        download_if_missing=download_if_missing,
        read=_read_npz,
        write=_write_npz,
        checksum=_array_checksum,
        file_sha256=_MNIST_FILE_SHA256,
        content_checksum=_MNIST_CONTENT_CHECKSUM,
        urls=_MNIST_URLS,
        parse_download=_parse_idx_images,
    )
    return np.array(images, dtype=np.uint8, copy=True)
