"""The benchmark suites: which datasets, methods, seeds and paper tables each one uses."""

from dataclasses import dataclass, field

from benchmarks._data import MNAR_DATASETS


@dataclass(frozen=True)
class PaperTable:
    """Where a paper's numbers for a suite's cells are, in ``shared/paper_results``.

    ``methods`` maps our method name to the row label in the CSV; ``column`` turns our dataset
    name into the CSV's column name (or None when the table has no such dataset).
    """

    label: str
    filename: str
    methods: dict
    columns: dict


NOT_MIWAE_TABLE1 = PaperTable(
    label="not-MIWAE T1",
    filename="not_miwae_table1_uci_rmse.csv",
    methods={"mean": "mean", "MICE": "MICE", "MissForest": "missForest"},
    columns={
        "breast": "breast",
        "banknote": "banknote",
        "concrete": "concrete",
        "red_wine": "red",
        "white_wine": "white",
        "yeast": "yeast",
    },
)

GNR_TABLE2_100 = PaperTable(
    label="GNR T2 (100%)",
    filename="gnr_table2_uci_rmse.csv",
    methods={"mean": "mean", "MICE": "MICE", "MissForest": "MissForest"},
    columns={
        "banknote": "banknote_100",
        "concrete": "concrete_100",
        "red_wine": "red_100",
        "white_wine": "white_100",
        "yeast": "yeast_100",
        "abalone": "abalone_100",
    },
)


@dataclass(frozen=True)
class Suite:
    """A benchmark suite.

    ``datasets`` and ``n_seeds`` are per profile (``"quick"`` or ``"paper"``). Every task is the
    MNAR self-masking protocol with probability ``p`` in the first half of the columns.
    """

    name: str
    description: str
    datasets: dict
    methods: tuple
    n_seeds: dict
    p: float = 1.0
    papers: tuple = field(default_factory=tuple)


SUITES = {
    suite.name: suite
    for suite in (
        Suite(
            name="quick",
            description=(
                "scikit-learn's breast cancer data, standardised; MNAR self-masking (p = 1): in "
                "the first 15 columns every entry above its column mean is missing. RMSE on the "
                "missing entries, standardised scale."
            ),
            datasets={"quick": ("breast",), "paper": ("breast",)},
            methods=("mean", "MICE", "MissForest"),
            n_seeds={"quick": 3, "paper": 5},
            papers=(NOT_MIWAE_TABLE1,),
        ),
        Suite(
            name="mnar_uci",
            description=(
                "Breast cancer and the six UCI sets, standardised after dropping the target or "
                "label column (abalone: rings and sex); MNAR self-masking (p = 1) in the first "
                "half of the columns. RMSE on the missing entries, standardised scale."
            ),
            datasets={"quick": ("breast", "banknote", "concrete"), "paper": MNAR_DATASETS},
            methods=("mean", "MICE", "MissForest"),
            n_seeds={"quick": 2, "paper": 5},
            papers=(NOT_MIWAE_TABLE1, GNR_TABLE2_100),
        ),
        Suite(
            name="missforest",
            description=(
                "MissForestImputer against scikit-learn's IterativeImputer with a 100-tree "
                "random forest, on the breast-cancer protocol of the quick suite: accuracy and "
                "time (one core, n_jobs=1)."
            ),
            datasets={"quick": ("breast",), "paper": ("breast",)},
            methods=("mean", "MissForest", "IterativeImputer-RF100"),
            n_seeds={"quick": 1, "paper": 3},
            papers=(NOT_MIWAE_TABLE1,),
        ),
    )
}
