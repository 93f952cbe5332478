"""The benchmark datasets and the papers' missing-data protocols."""

import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from skimpute.ampute import mnar_self_masking
from skimpute.datasets import load_uci

#: Datasets of the MNAR tables: scikit-learn's breast cancer and the six UCI sets.
MNAR_DATASETS = ("breast", "banknote", "concrete", "red_wine", "white_wine", "yeast", "abalone")


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
    mean and standard deviation.
    """
    if name == "breast":
        X = load_breast_cancer().data
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
