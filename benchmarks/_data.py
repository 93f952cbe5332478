"""The benchmark datasets and the papers' missing-data protocols."""

import os
import re
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.preprocessing import StandardScaler

from skimpute.ampute import mcar, mnar_self_masking
from skimpute.datasets import load_uci

#: Datasets of the MNAR tables: scikit-learn's breast cancer and the six UCI sets.
MNAR_DATASETS = (
    "breast",
    "banknote",
    "concrete",
    "concrete_strength",
    "red_wine",
    "white_wine",
    "yeast",
    "abalone",
)

#: Datasets that keep their target as a feature: the papers' concrete does (measured: with the
#: compressive strength among the 9 features, MICE gives 1.696 at p = 1, the papers' 1.70 and
#: 1.69; without it 1.868), while their mean row (1.85) cannot tell, as 9 // 2 = 8 // 2.
WITH_TARGET = {"concrete_strength": "concrete"}


#: The shared benchmark data beside the repository, as CI and the developers have it.
SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def default_data_home():
    """Where the benchmarks read the UCI files when no ``--data-home`` is given.

    ``$SKIMPUTE_DATA`` if set, else ``../shared/datasets`` beside the repository when it exists,
    else None (``load_uci``'s own default: its cache folder, downloading what is missing).
    """
    if os.environ.get("SKIMPUTE_DATA"):
        return os.environ["SKIMPUTE_DATA"]
    return str(SHARED_DATASETS) if SHARED_DATASETS.is_dir() else None


def load_complete(name, data_home=None):
    """Complete numeric feature matrix of a benchmark dataset, standardised.

    The papers' protocol: the target or label column is dropped (``load_uci``'s ``data`` already
    leaves it out; abalone's categorical ``sex`` too), then each column is standardised with its
    mean and standard deviation. ``digits`` (scikit-learn's 8 x 8 images) is the exception: its
    grey levels are divided by 16, to [0, 1], not standardised. ``concrete_strength`` keeps
    concrete's target, the compressive strength, as a ninth feature, as the papers did (see
    :data:`WITH_TARGET`).
    """
    if name == "digits":
        # 8 x 8 grey levels 0..16 kept on their own scale, [0, 1]: standardising would blow the
        # nearly constant border pixels up, and RMSE is read in grey levels for images
        return load_digits().data.astype(np.float64) / 16.0
    if name == "breast":
        X = load_breast_cancer().data
    elif name in WITH_TARGET:
        bunch = load_uci(WITH_TARGET[name], data_home=data_home or default_data_home())
        X = np.column_stack([bunch.data, bunch.target])
    else:
        X = load_uci(name, data_home=data_home or default_data_home()).data
    return StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))


def self_masking_task(name, p=1.0, seed=0, data_home=None):
    """The not-MIWAE / GNR protocol: self-masking with probability ``p`` in the first half.

    In the first ``n_features // 2`` columns an entry above its column mean goes missing with
    probability ``p``. Returns ``(X_complete, X_missing, mask)``, mask True where observed.
    """
    X = load_complete(name, data_home=data_home)
    columns = range(X.shape[1] // 2)
    X_missing, mask = mnar_self_masking(X, columns=columns, p=p, random_state=seed)
    return X, X_missing, mask


#: Rows of the synthetic 4-d Gaussian of GNR's Table 1 (the paper does not say; our choice).
GAUSS4_ROWS = 2000


def gaussian4(seed=0, n_samples=GAUSS4_ROWS):
    """GNR's synthetic data: a 4-d Gaussian with a 1-d latent structure, standardised.

    The paper says only "samples from a multivariate Gaussian", modelled with a 1-d latent
    space. Its mean and MICE rows (1.05, 1.45, 1.71 at 20, 80 and 100 %, MICE equal to the mean)
    show that the features are nearly uncorrelated, so that only a model of the missing-data
    mechanism beats the mean. We draw ``x = a z + e`` with ``z ~ N(0, 1)``, loadings
    ``a = (0.2, 0.2, 0.2, 0.2)`` and ``e ~ N(0, I)`` (correlations about 0.04), with the data's
    own seed, then standardise each column: the mean and MICE give 0.99, 1.45 and 1.71.
    """
    rng = np.random.default_rng(10_000 + seed)
    z = rng.normal(size=(n_samples, 1))
    X = z @ np.full((1, 4), 0.2) + rng.normal(size=(n_samples, 4))
    return StandardScaler().fit_transform(X)


_TASK = re.compile(r"^(?P<base>.+?)(?:_p(?P<p>\d+))?(?P<star>_star)?(?:_mcar(?P<mcar>\d+))?$")


def parse_task(name):
    """Split a task name into ``(dataset, p, star, mcar_rate)``.

    ``"white_wine"`` is the dataset with ``p = None`` (the suite's); ``"white_wine_p20"`` with
    ``p = 0.2``;
    ``"gauss4_star"`` GNR's "*" mechanism; ``"gauss4_p80_mcar20"`` adds 20% MCAR on every
    feature to 80% self-masking.
    """
    match = _TASK.match(name)
    p = int(match["p"]) / 100 if match["p"] else None
    mcar_rate = int(match["mcar"]) / 100 if match["mcar"] else 0.0
    return match["base"], p, bool(match["star"]), mcar_rate


def make_task(name, seed=0, data_home=None, p=1.0):
    """The complete data, its masked copy and the mask of a named task.

    The protocol of the not-MIWAE and GNR papers: in the first half of the columns an entry
    above its column mean goes missing with probability ``p`` (from the name, else the
    argument; ``p = 0``: no self-masking). GNR's "*" mechanism (``gauss4_star``): ``x1`` goes
    missing when above its mean, ``x2`` when below. ``_mcarNN`` adds NN% MCAR on every feature
    (with ``p = 0``, MCAR alone: ``digits_mcar20``). Returns
    ``(X_complete, X_missing, mask)``, mask True where observed.
    """
    dataset, p_name, star, mcar_rate = parse_task(name)
    p = p if p_name is None else p_name
    X = gaussian4(seed) if dataset == "gauss4" else load_complete(dataset, data_home=data_home)
    columns = range(X.shape[1] // 2)
    if star:
        X_missing, mask = mnar_self_masking(X, columns=[0], p=p, random_state=seed)
        _, mask_low = mnar_self_masking(-X, columns=[1], p=p, random_state=seed + 1)
        mask &= mask_low
    elif p > 0:
        _, mask = mnar_self_masking(X, columns=columns, p=p, random_state=seed)
    else:
        mask = np.ones(X.shape, dtype=bool)
    if mcar_rate:
        mask &= mcar(X, mcar_rate, random_state=seed + 2)[1]
    return X, np.where(mask, X, np.nan), mask
