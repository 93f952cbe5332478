"""Transform data larger than memory, a block of rows at a time.

:func:`transform_in_chunks` reads the rows of an array, a :class:`numpy.memmap` or any object
sliceable by rows (an HDF5 dataset, a zarr array) a block at a time, transforms each block with a
fitted estimator and writes the result into an output array, which may itself be a
:class:`numpy.memmap`. Inside a block, the skimpute imputers number the rows from the block's
position in the whole data (``skimpute._base._row_offset``), so the result equals the estimator's
``transform`` of the whole array bit for bit.
"""

import mmap
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skimpute._base import _row_offset

try:  # numpy >= 2.0
    from numpy.lib.array_utils import byte_bounds as _byte_bounds
except ImportError:  # pragma: no cover - numpy < 2.0
    _byte_bounds = np.byte_bounds

__all__ = ["transform_in_chunks"]


def _release_pages(array, start, stop):
    """Drop the pages of rows ``start:stop`` of a shared memory map from this process.

    The pages of a :class:`numpy.memmap` that the process has read or written stay in its
    resident memory (as file pages) until the map is closed, so reading a large file through a
    memmap makes the resident set grow to the file's size. For a map shared with its file (modes
    ``"r"``, ``"r+"`` and ``"w+"``), ``madvise(MADV_DONTNEED)`` unmaps the pages without losing
    data: written pages stay in the page cache and reach the file, and a later access reads the
    pages back. Copy-on-write maps (mode ``"c"``), whose changes live only in the process, plain
    arrays and platforms without :meth:`mmap.mmap.madvise` are left alone.

    Parameters
    ----------
    array : object
        The input or output of :func:`transform_in_chunks`; only a :class:`numpy.memmap`
        backed by a shared map is touched.
    start, stop : int
        The rows just processed.
    """
    mm = getattr(array, "_mmap", None)
    if (
        not isinstance(array, np.memmap)
        or mm is None
        or getattr(array, "mode", None) not in ("r", "r+", "w+")
        or not hasattr(mm, "madvise")
        or not hasattr(mmap, "MADV_DONTNEED")
        or stop <= start
    ):
        return
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        low, high = _byte_bounds(array[start:stop])
        low = (low - base) // mmap.PAGESIZE * mmap.PAGESIZE
        high = min(len(mm), high - base)
        if high > low >= 0:
            mm.madvise(mmap.MADV_DONTNEED, low, high - low)
    except (ValueError, OSError, BufferError):  # a closed map, or a kernel that refuses
        return


def _rows(X, start, stop):
    """Rows ``start:stop`` of `X` (``.iloc`` for pandas objects, slicing otherwise)."""
    if hasattr(X, "iloc"):
        return X.iloc[start:stop]
    return X[start:stop]


def _block_rows(estimator, shape, chunk_size):
    """Rows per block: `chunk_size`, rounded down to a multiple of a skimpute imputer's chunks.

    A skimpute imputer transforms its rows in chunks of ``estimator._rows_per_chunk(...)`` rows
    from the first row, and a row's result can differ in its last bits with the chunk it is
    computed in (the floating-point kernels block their rows). Blocks of a multiple of it are
    cut into the same chunks as the whole data, so the results are identical.
    """
    rows_per_chunk = getattr(estimator, "_rows_per_chunk", None)
    if rows_per_chunk is None or len(shape) < 2:
        return chunk_size
    inner = int(rows_per_chunk(int(np.prod(shape[1:]))))
    return max(inner, chunk_size // inner * inner)


def transform_in_chunks(estimator, X, *, out=None, chunk_size=10_000):
    """Transform `X` with a fitted estimator, `chunk_size` rows at a time.

    Only a block of `chunk_size` rows of `X`, its transform and the estimator's working memory
    are in memory at once, so `X` and `out` can be :class:`numpy.memmap` files larger than
    memory. For the skimpute imputers the result is, bit for bit, ``estimator.transform(X)``: the
    random numbers of a row are seeded from its position in the whole of `X` (each block is
    transformed inside ``skimpute._base._row_offset(start)``, which numbers its rows from
    ``start``), not from its position in the block. Any other transformer whose rows are
    transformed independently of each other (scikit-learn's imputers, a fitted
    :class:`~sklearn.pipeline.Pipeline`) gives its ``transform`` of the whole array too.

    Parameters
    ----------
    estimator : fitted transformer
        A fitted estimator with a ``transform`` method, such as a fitted
        :class:`~skimpute.NotMIWAEImputer`, :class:`~skimpute.GNRImputer`,
        :class:`~skimpute.GPSIImputer` or :class:`~sklearn.impute.SimpleImputer`.
    X : array-like of shape (n_samples, ...)
        The data: an ndarray, a :class:`numpy.memmap` (for example from
        ``np.load(path, mmap_mode="r")``), a DataFrame, or any object with a ``shape`` whose
        rows ``X[start:stop]`` can be read (an HDF5 dataset, a zarr array). It is read, never
        modified, unless `out` is `X`.
    out : ndarray of shape (n_samples, ...) or None, default=None
        Where to write the result: an ndarray or a writable :class:`numpy.memmap` (for example
        from ``np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=X.shape)``),
        with the shape and dtype of ``estimator.transform``'s output (for the skimpute imputers
        those of `X`). None allocates an ndarray. `out` may be `X` itself (a writable array),
        which is then imputed in place: a block is read before its rows are written. Any other
        overlap between `out` and `X` is an error.
    chunk_size : int, default=10_000
        Rows per block. The memory of a block is a few copies of ``chunk_size * n_features``
        floats, plus the estimator's own working memory. A skimpute imputer processes its
        input in chunks of a fixed number of rows (about 256 MiB of working memory each, for
        example 96 rows for a :class:`~skimpute.NotMIWAEImputer` with its defaults on 30
        columns); for it, `chunk_size` is rounded down to a multiple of that number (and
        raised to it when smaller), so that each row is computed in the same chunk as by
        ``transform`` on the whole array.

    Returns
    -------
    out : ndarray of shape (n_samples, ...)
        The transformed data, `out` itself when it is given (a :class:`numpy.memmap` is
        flushed to its file).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If `estimator` is not fitted.
    TypeError
        If `estimator` has no ``transform`` method, `X` has no ``shape``, or `out` is not an
        ndarray.
    ValueError
        If `chunk_size` is not a positive integer, `out` does not have the shape or dtype of
        the transform's output, is not writable, or overlaps `X` without being `X`.

    Notes
    -----
    When `X` or `out` is a :class:`numpy.memmap` shared with its file (modes ``"r"``, ``"r+"``,
    ``"w+"``), the pages of each block are dropped from the process's memory once the block is
    written (``madvise(MADV_DONTNEED)`` where the platform has it), so the resident memory stays
    flat however many rows the files hold; the data stays in the files and in the operating
    system's page cache. `out` is flushed to its file at the end.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute import NotMIWAEImputer, transform_in_chunks
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> X[rng.random(X.shape) < 0.2] = np.nan
    >>> imputer = NotMIWAEImputer(max_epochs=2, n_imputation_samples=10, random_state=0).fit(X)
    >>> X_imputed = transform_in_chunks(imputer, X, chunk_size=16)
    >>> bool(np.array_equal(X_imputed, imputer.transform(X)))
    True
    """
    if not hasattr(estimator, "transform"):
        raise TypeError(
            f"transform_in_chunks needs an estimator with a transform method; "
            f"{type(estimator).__name__} has none."
        )
    check_is_fitted(estimator)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) < 1:
        raise TypeError(
            "transform_in_chunks reads X by rows and needs its shape: pass an ndarray, a "
            f"numpy.memmap, a DataFrame or an array-like with a shape, not {type(X).__name__}."
        )
    n_samples = int(shape[0])
    in_place = False
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(
                "out must be an ndarray or a numpy.memmap of the transform's shape, got "
                f"{type(out).__name__}."
            )
        if out.ndim < 1 or out.shape[0] != n_samples:
            raise ValueError(
                f"out has shape {out.shape}, but X has {n_samples} rows: out must have the shape "
                "of the transform's output."
            )
        if not out.flags.writeable:
            raise ValueError("out is read-only: pass a writable array or memmap.")
        if isinstance(X, np.ndarray) and np.shares_memory(X, out):
            in_place = out is X
            if not in_place:
                raise ValueError(
                    "out overlaps the memory of X without being X: pass out=X to impute in "
                    "place, or an array of its own."
                )
    block_rows = _block_rows(estimator, shape, chunk_size)
    for start in range(0, max(n_samples, 1), block_rows):
        stop = min(n_samples, start + block_rows)
        with _row_offset(start):
            block = np.asarray(estimator.transform(_rows(X, start, stop)))
        if out is None:
            out = np.empty((n_samples,) + block.shape[1:], dtype=block.dtype)
        elif start == 0:
            expected = (n_samples,) + block.shape[1:]
            if out.shape != expected or out.dtype != block.dtype:
                raise ValueError(
                    f"out has shape {out.shape} and dtype {out.dtype}, but the transform of X "
                    f"has shape {expected} and dtype {block.dtype}."
                )
        out[start:stop] = block
        del block
        if not in_place:
            _release_pages(X, start, stop)
        _release_pages(out, start, stop)
    if isinstance(out, np.memmap):
        out.flush()
    return out
