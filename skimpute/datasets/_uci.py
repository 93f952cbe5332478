"""Loaders for the UCI datasets of the tabular imputation benchmarks.

Each dataset has one canonical table (the columns and values of the UCI original, with
snake_case column names; for yeast the sequence-name column is dropped), stored as a CSV file in
the data home. The file names and SHA-256 checksums are those of the shared benchmark copies.
When the file is missing it is downloaded from the UCI repository in its original format,
parsed into the canonical table, verified by a checksum of that table's content, and written.
"""

import difflib
import io
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from skimpute.datasets._base import _load_or_download, _table_checksum

#: The dataset names :func:`load_uci` accepts.
UCI_DATASETS = ("banknote", "concrete", "red_wine", "white_wine", "yeast", "abalone")

#: Where each original is downloaded from; tests point these at a local server.
_UCI_URLS = {
    "banknote": "https://archive.ics.uci.edu/static/public/267/banknote+authentication.zip",
    "concrete": ("https://archive.ics.uci.edu/static/public/165/concrete+compressive+strength.zip"),
    "red_wine": "https://archive.ics.uci.edu/static/public/186/wine+quality.zip",
    "white_wine": "https://archive.ics.uci.edu/static/public/186/wine+quality.zip",
    "yeast": "https://archive.ics.uci.edu/static/public/110/yeast.zip",
    "abalone": "https://archive.ics.uci.edu/static/public/1/abalone.zip",
}

_LICENCE = (
    "Licence: Creative Commons Attribution 4.0 International (CC BY 4.0), as listed by the UCI "
    "Machine Learning Repository."
)

_WINE_COLUMNS = (
    ("fixed_acidity", "float"),
    ("volatile_acidity", "float"),
    ("citric_acid", "float"),
    ("residual_sugar", "float"),
    ("chlorides", "float"),
    ("free_sulfur_dioxide", "float"),
    ("total_sulfur_dioxide", "float"),
    ("density", "float"),
    ("pH", "float"),
    ("sulphates", "float"),
    ("alcohol", "float"),
    ("quality", "int"),
)


@dataclass(frozen=True)
class _UCISpec:
    """Everything :func:`load_uci` knows about one dataset."""

    name: str
    title: str
    uci_id: int
    filename: str
    file_sha256: str
    content_checksum: str
    columns: tuple  # ((name, "float" | "int" | "str"), ...) in file order
    target: str
    excluded: tuple  # non-target columns left out of ``data``
    member: str  # file inside the UCI archive
    citation: str
    notes: str = ""

    @property
    def page(self):
        return f"https://archive.ics.uci.edu/dataset/{self.uci_id}"

    @property
    def column_names(self):
        return [c for c, _ in self.columns]

    @property
    def feature_names(self):
        return [c for c in self.column_names if c != self.target and c not in self.excluded]


_SPECS = {
    spec.name: spec
    for spec in (
        _UCISpec(
            name="banknote",
            title="Banknote Authentication",
            uci_id=267,
            filename="banknote_authentication.csv",
            file_sha256="6da87da586c6089307c59824a5127df375fe14301ac628acc5d7b3b4a32db9a5",
            content_checksum="3f9ea7bbd27ca87d95e7b04c208bb2b5b1d2cae85a756e8c94095b3a293c931d",
            columns=(
                ("variance", "float"),
                ("skewness", "float"),
                ("curtosis", "float"),
                ("entropy", "float"),
                ("class", "int"),
            ),
            target="class",
            excluded=(),
            member="data_banknote_authentication.txt",
            citation="Lohweg, V. (2012). Banknote Authentication. UCI Machine Learning Repository.",
            notes=(
                "Wavelet features of images of genuine (class 0, 762 rows) and forged (class 1, "
                "610 rows) banknotes. 24 rows are exact duplicates, as in the original."
            ),
        ),
        _UCISpec(
            name="concrete",
            title="Concrete Compressive Strength",
            uci_id=165,
            filename="concrete_compressive_strength.csv",
            file_sha256="cb693081f94c7415b5852670d514793f19b45d96affdda15cf74d6cd8824c591",
            content_checksum="76a606023f1fccf7a8bc80054979493fb920d3f63e38f4e55b35124acc59a5ff",
            columns=(
                ("cement", "float"),
                ("blast_furnace_slag", "float"),
                ("fly_ash", "float"),
                ("water", "float"),
                ("superplasticizer", "float"),
                ("coarse_aggregate", "float"),
                ("fine_aggregate", "float"),
                ("age", "int"),
                ("strength", "float"),
            ),
            target="strength",
            excluded=(),
            member="Concrete_Data.xls",
            citation=(
                'I-Cheng Yeh, "Modeling of strength of high performance concrete using '
                'artificial neural networks", Cement and Concrete Research 28(12):1797-1808, '
                "1998."
            ),
            notes=(
                "Mixture components (kg per m^3), age (days) and compressive strength (MPa, the "
                "regression target), read from the original Concrete_Data.xls at full "
                "precision. 25 rows are exact duplicates, as in the original. Downloading the "
                "original needs the optional package xlrd."
            ),
        ),
        _UCISpec(
            name="red_wine",
            title="Wine Quality (red)",
            uci_id=186,
            filename="winequality_red.csv",
            file_sha256="0a217383ca4f6abe5f4df1bfa741de54979537957374d8a4c0b44960db1be840",
            content_checksum="a44c71a90d88e0947da2466d60e4ec365c6714fe5a2675712f49bef55a8148d9",
            columns=_WINE_COLUMNS,
            target="quality",
            excluded=(),
            member="winequality-red.csv",
            citation=(
                'P. Cortez, A. Cerdeira, F. Almeida, T. Matos, J. Reis, "Modeling wine '
                'preferences by data mining from physicochemical properties", Decision Support '
                "Systems 47(4):547-553, 2009."
            ),
            notes=(
                "Physicochemical measurements of red vinho verde wines and a sensory quality "
                "score (0-10, the target). 240 rows are exact duplicates, as in the original."
            ),
        ),
        _UCISpec(
            name="white_wine",
            title="Wine Quality (white)",
            uci_id=186,
            filename="winequality_white.csv",
            file_sha256="3b57e37fcdf48e625a7a93b5ec395c17ec714ac7d467d166b3a7c42c7add46f2",
            content_checksum="ac33410f8c5c14899fdc5778a70a171e7c0f79fa1c0da96c44a34ae75943f7da",
            columns=_WINE_COLUMNS,
            target="quality",
            excluded=(),
            member="winequality-white.csv",
            citation=(
                'P. Cortez, A. Cerdeira, F. Almeida, T. Matos, J. Reis, "Modeling wine '
                'preferences by data mining from physicochemical properties", Decision Support '
                "Systems 47(4):547-553, 2009."
            ),
            notes=(
                "Physicochemical measurements of white vinho verde wines and a sensory quality "
                "score (0-10, the target). 937 rows are exact duplicates, as in the original."
            ),
        ),
        _UCISpec(
            name="yeast",
            title="Yeast",
            uci_id=110,
            filename="yeast.csv",
            file_sha256="1606fb1af50a1193b660e2c1e1d540322539ba9b53428b4c7b86c9e564215d10",
            content_checksum="e6a8e4d3871d9607ee7e147584aa8dc2772f2ba221508727b48a40863355cf4b",
            columns=(
                ("mcg", "float"),
                ("gvh", "float"),
                ("alm", "float"),
                ("mit", "float"),
                ("erl", "float"),
                ("pox", "float"),
                ("vac", "float"),
                ("nuc", "float"),
                ("class", "str"),
            ),
            target="class",
            excluded=(),
            member="yeast.data",
            citation=(
                'P. Horton and K. Nakai, "A Probabilistic Classification System for Predicting '
                'the Cellular Localization Sites of Proteins", ISMB 1996, pp. 109-115.'
            ),
            notes=(
                "Eight scores computed from protein sequences and the protein's localisation "
                "site (10 string labels, the target). The original's first column, the "
                "sequence name, is dropped."
            ),
        ),
        _UCISpec(
            name="abalone",
            title="Abalone",
            uci_id=1,
            filename="abalone.csv",
            file_sha256="a2daaed9c48ef860360f6438a224a2fde2576f1ebcf4f821ffe23645c229b23e",
            content_checksum="3c5f858e2a6ec634743dec6e9d7e3d4777575da172322174ff0ac2e81585626d",
            columns=(
                ("sex", "str"),
                ("length", "float"),
                ("diameter", "float"),
                ("height", "float"),
                ("whole_weight", "float"),
                ("shucked_weight", "float"),
                ("viscera_weight", "float"),
                ("shell_weight", "float"),
                ("rings", "int"),
            ),
            target="rings",
            excluded=("sex",),
            member="abalone.data",
            citation=(
                'W. J. Nash, T. L. Sellers, S. R. Talbot, A. J. Cawthorn, W. B. Ford, "The '
                "Population Biology of Abalone (Haliotis species) in Tasmania. I. Blacklip "
                'Abalone (H. rubra) from the North Coast and Islands of Bass Strait", Sea '
                "Fisheries Division, Technical Report No. 48, 1994."
            ),
            notes=(
                "Physical measurements of abalone and the number of rings (the target; age is "
                "about rings + 1.5). The categorical column sex (M, F, I) is not numeric: it is "
                "left out of data and feature_names, as the imputation benchmarks do, and kept "
                "in frame. 2 rows have height 0, as in the original."
            ),
        ),
    )
}

_NAME_HINTS = {spec.filename[: -len(".csv")]: spec.name for spec in _SPECS.values()}
_NAME_HINTS.update({"wine_red": "red_wine", "wine_white": "white_wine"})


def _get_spec(name):
    if isinstance(name, str) and name in _SPECS:
        return _SPECS[name]
    valid = ", ".join(repr(n) for n in UCI_DATASETS)
    hint = ""
    if isinstance(name, str):
        key = name.strip().lower().replace("-", "_").replace("+", "_").replace(" ", "_")
        if key in _SPECS:
            suggestion = key
        elif key in _NAME_HINTS:
            suggestion = _NAME_HINTS[key]
        else:
            close = difflib.get_close_matches(key, list(_SPECS) + list(_NAME_HINTS), n=1)
            suggestion = _NAME_HINTS.get(close[0], close[0]) if close else None
        if suggestion is not None:
            hint = f" Did you mean {suggestion!r}?"
    raise ValueError(f"Unknown UCI dataset {name!r}. Valid names are: {valid}.{hint}")


# --------------------------------------------------------------------------------------------
# The canonical table: read, write, and parse from the UCI originals
# --------------------------------------------------------------------------------------------


def _canonicalise(frame, spec):
    """Give ``frame`` the canonical column names (by position) and dtypes of ``spec``."""
    if frame.shape[1] != len(spec.columns):
        raise ValueError(
            f"expected {len(spec.columns)} columns ({', '.join(spec.column_names)}), "
            f"found {frame.shape[1]}"
        )
    frame = frame.copy()
    frame.columns = spec.column_names
    for column, kind in spec.columns:
        values = frame[column]
        if kind == "str":
            frame[column] = values.astype(str).str.strip()
            continue
        numeric = pd.to_numeric(values, errors="raise").astype(np.float64)
        if numeric.isna().any():
            raise ValueError(f"column {column!r} has missing values")
        if kind == "int":
            if not np.array_equal(numeric, np.round(numeric)):
                raise ValueError(f"column {column!r} has non-integer values")
            frame[column] = numeric.astype(np.int64)
        else:
            frame[column] = numeric
    return frame.reset_index(drop=True)


def _read_canonical_csv(path, spec):
    frame = pd.read_csv(path)
    found = [str(c) for c in frame.columns]
    if found != spec.column_names:
        raise ValueError(f"its columns are {found}, expected {spec.column_names}")
    return _canonicalise(frame, spec)


def _write_canonical_csv(frame, path):
    frame.to_csv(path, index=False, lineterminator="\n")


def _archive_member(raw, member):
    """Return the bytes of ``member`` from the zip archive ``raw``, or ``raw`` if not a zip."""
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        return raw
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for info in archive.infolist():
            if info.filename.rsplit("/", 1)[-1] == member:
                return archive.read(info)
        names = ", ".join(archive.namelist())
    raise ValueError(f"the archive has no file {member!r} (it holds: {names})")


def _import_xlrd():
    try:
        import xlrd  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "The concrete dataset is published by UCI only as Concrete_Data.xls; reading it "
            "needs the optional package xlrd, which is not installed. Install it "
            "(pip install xlrd), or put a copy of concrete_compressive_strength.csv in the "
            "data home (data_home= or the SKIMPUTE_DATA environment variable)."
        ) from exc


def _read_excel(content):
    """Read the first sheet of an .xls file (a hook, so tests can stand in for xlrd)."""
    return pd.read_excel(io.BytesIO(content), sheet_name=0, header=0, engine="xlrd")


def _parse_original(raw, spec):
    """Parse the UCI original (a zip archive, or the bare member file) into the canonical table."""
    content = _archive_member(raw, spec.member)
    if spec.name == "concrete":
        frame = _read_excel(content)
    elif spec.name in ("red_wine", "white_wine"):
        # Semicolon-separated with a quoted header: "fixed acidity";"volatile acidity";...
        frame = pd.read_csv(io.BytesIO(content), sep=";")
    elif spec.name == "yeast":
        # Whitespace-separated, no header: sequence name, 8 features, localisation site.
        frame = pd.read_csv(io.BytesIO(content), sep=r"\s+", header=None)
        if frame.shape[1] != len(spec.columns) + 1:
            raise ValueError(
                f"expected {len(spec.columns) + 1} whitespace-separated fields per line "
                f"(the sequence name, then {', '.join(spec.column_names)}), "
                f"found {frame.shape[1]}"
            )
        frame = frame.iloc[:, 1:]
    else:
        # banknote and abalone: comma-separated, no header.
        frame = pd.read_csv(io.BytesIO(content), header=None)
    return _canonicalise(frame, spec)


# --------------------------------------------------------------------------------------------
# Public loader
# --------------------------------------------------------------------------------------------


def _describe(spec, n_samples):
    excluded = ""
    if spec.excluded:
        excluded = f"\nLeft out of data (kept in frame): {', '.join(spec.excluded)}."
    return (
        f"UCI {spec.title} dataset\n"
        f"{'=' * (len(spec.title) + 12)}\n\n"
        f"{spec.notes}\n\n"
        f"Samples: {n_samples}. Features in data ({len(spec.feature_names)}): "
        f"{', '.join(spec.feature_names)}.\n"
        f"Target: {spec.target}.{excluded}\n\n"
        "The imputation benchmarks use data, the numeric columns without the target (and "
        "without any non-numeric column); they standardise it and inject missing values.\n\n"
        f"Source: UCI Machine Learning Repository, dataset {spec.uci_id}, {spec.page}\n"
        f"{_LICENCE}\n"
        f"Citation: {spec.citation}\n"
    )


def load_uci(name, *, data_home=None, download_if_missing=True, as_frame=False, return_X_y=False):
    """Load one of the UCI datasets of the tabular imputation benchmarks.

    The dataset is read from its canonical CSV file in the data home (see
    :func:`get_data_home`: the ``data_home`` argument, else the ``SKIMPUTE_DATA`` environment
    variable, else ``~/skimpute_data``) and verified by its SHA-256 checksum. When the file is
    not there it is downloaded from the UCI Machine Learning Repository in its original format,
    parsed, verified by a checksum of its content, and written into the data home.

    =============  ================  ========================================================
    name           data shape        target (left out of ``data``)
    =============  ================  ========================================================
    "banknote"     (1372, 4)         ``class`` (0 genuine, 1 forged)
    "concrete"     (1030, 8)         ``strength`` (MPa)
    "red_wine"     (1599, 11)        ``quality`` (score 3-8)
    "white_wine"   (4898, 11)        ``quality`` (score 3-9)
    "yeast"        (1484, 8)         ``class`` (10 localisation sites, strings)
    "abalone"      (4177, 7)         ``rings``; ``sex`` (M/F/I) is left out as well
    =============  ================  ========================================================

    ``data`` is what the imputation benchmarks of the papers use: the numeric columns without
    the target or label column. Abalone's categorical ``sex`` column is not numeric, so it is
    left out of ``data`` and ``feature_names`` too; it is kept in ``frame``.

    Parameters
    ----------
    name : {"banknote", "concrete", "red_wine", "white_wine", "yeast", "abalone"}
        The dataset; :data:`UCI_DATASETS` lists the names.

    data_home : str or path-like, default=None
        The folder holding the local copies, and where downloads are written. If None, the
        ``SKIMPUTE_DATA`` environment variable, else ``~/skimpute_data``.

    download_if_missing : bool, default=True
        If False, raise a :class:`FileNotFoundError` when the local copy is missing instead of
        downloading it.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame, ``target`` a Series, and ``frame`` the whole
        table. If False, ``data`` and ``target`` are ndarrays and ``frame`` is None.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (n_samples, n_features)
            The numeric features, float64, with no missing values.
        target : {ndarray, Series} of shape (n_samples,)
            The target: int64 for banknote, wine and abalone, float64 for concrete, strings
            for yeast.
        feature_names : list of str
            The columns of ``data``.
        target_names : list of str
            The name of the target column (as in :func:`sklearn.datasets.fetch_openml`).
        frame : DataFrame of shape (n_samples, n_columns) or None
            When ``as_frame=True``, the whole table: the features, the target and, for
            abalone, ``sex``, in the column order of the file. None when ``as_frame=False``.
        DESCR : str
            Description of the dataset, with its source, licence (CC BY 4.0) and citation.
        filename : str
            The path of the local copy that was read.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`UCI_DATASETS`.
    FileNotFoundError
        If the local copy is missing and ``download_if_missing`` is False. The message gives
        the path looked at and the URL that would have been used.
    OSError
        If the local copy is corrupt or truncated (it fails its checksums), or if it is missing
        and the download fails or its content checksum does not match. The message gives every
        path looked at and every URL tried, and why each failed.
    ImportError
        If ``name="concrete"`` has to be downloaded and the optional package ``xlrd``, which
        reads the original ``.xls`` file, is not installed.

    See Also
    --------
    get_data_home : Where the local copies are looked for and downloads written.
    load_mnist_test_images : The MNIST test images of the image benchmarks.

    Examples
    --------
    >>> from skimpute.datasets import load_uci
    >>> wine = load_uci("red_wine")  # doctest: +SKIP
    >>> wine.data.shape  # doctest: +SKIP
    (1599, 11)
    >>> X, y = load_uci("abalone", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (4177, 7)
    """
    spec = _get_spec(name)
    frame, path = _load_or_download(
        what=f"The UCI dataset {spec.name!r} ({spec.filename})",
        filename=spec.filename,
        data_home=data_home,
        download_if_missing=download_if_missing,
        read=lambda p: _read_canonical_csv(p, spec),
        write=_write_canonical_csv,
        checksum=_table_checksum,
        file_sha256=spec.file_sha256,
        content_checksum=spec.content_checksum,
        urls=_UCI_URLS[spec.name],
        parse_download=lambda raw: _parse_original(raw, spec),
        before_download=_import_xlrd if spec.name == "concrete" else None,
    )

    features = frame[spec.feature_names].astype(np.float64)
    target = frame[spec.target]
    if as_frame:
        data, target_out = features, target
    else:
        data = features.to_numpy(dtype=np.float64)
        target_out = target.to_numpy()
        frame = None
    if return_X_y:
        return data, target_out
    return Bunch(
        data=data,
        target=target_out,
        feature_names=list(spec.feature_names),
        target_names=[spec.target],
        frame=frame,
        DESCR=_describe(spec, features.shape[0]),
        filename=str(path),
    )
