"""The benchmark suites: which datasets, methods, seeds and paper tables each one uses."""

from dataclasses import dataclass, field

from benchmarks._data import MNAR_DATASETS


@dataclass(frozen=True)
class PaperTable:
    """Where a paper's numbers for a suite's cells are, in ``shared/paper_results``.

    ``methods`` maps our method name to the row label in the CSV; ``column`` turns our dataset
    name into the CSV's column name (or None when the table has no such dataset). ``metric`` is
    the record field the paper's number stands beside (``"rmse"`` or ``"mask_accuracy"``) and
    ``scale`` turns the paper's number into our units (0.01 for a percentage).
    """

    label: str
    filename: str
    methods: dict
    columns: dict
    metric: str = "rmse"
    scale: float = 1.0


NOT_MIWAE_TABLE1 = PaperTable(
    label="not-MIWAE T1",
    filename="not_miwae_table1_uci_rmse.csv",
    methods={
        "mean": "mean",
        "MICE": "MICE",
        "MissForest": "missForest",
        "MIWAE": "MIWAE",
        "not-MIWAE_selfmasking_known": "not-MIWAE self-masking known",
        "not-MIWAE_selfmasking_known-unscaled": "not-MIWAE self-masking known",
        "not-MIWAE_selfmasking": "not-MIWAE self-masking",
        "not-MIWAE_linear": "not-MIWAE agnostic",
        "PPCA": "PPCA",
        "not-MIWAE-PPCA_selfmasking_known": "not-MIWAE PPCA self-masking known",
        "not-MIWAE-PPCA_selfmasking": "not-MIWAE PPCA self-masking",
        "not-MIWAE-PPCA_linear": "not-MIWAE PPCA agnostic",
    },
    columns={
        "breast": "breast",
        "banknote": "banknote",
        "concrete_strength": "concrete",
        "red_wine": "red",
        "white_wine": "white",
        "yeast": "yeast",
    },
)

GNR_TABLE2_100 = PaperTable(
    label="GNR T2 (100%)",
    filename="gnr_table2_uci_rmse.csv",
    methods={"mean": "mean", "MICE": "MICE", "MissForest": "MissForest", "MIWAE": "MIWAE"},
    columns={
        "banknote": "banknote_100",
        "concrete_strength": "concrete_100",
        "red_wine": "red_100",
        "white_wine": "white_100",
        "yeast": "yeast_100",
        "abalone": "abalone_100",
    },
)


_GNR_UCI = {
    "white_wine": "white",
    "abalone": "abalone",
    "banknote": "banknote",
    "yeast": "yeast",
    "red_wine": "red",
    "concrete_strength": "concrete",
}
_GNR_PS = {"p20": "20", "p80": "80", "p100": "100"}

#: GNR's real-data tasks: the six UCI sets at self-masking probabilities 0.2, 0.8 and 1.
GNR_UCI_TASKS = tuple(f"{d}_{p}" for d in _GNR_UCI for p in _GNR_PS)
#: GNR's synthetic tasks (Table 1).
GNR_SYNTHETIC_TASKS = (
    "gauss4_p20",
    "gauss4_p80",
    "gauss4_p100",
    "gauss4_star",
    "gauss4_p80_mcar20",
)

#: The GNR paper's neural rows and ours: GNR, not-MIWAE (self-masking, the direction not given,
#: since the "*" mechanism removes low values of x2) and MIWAE.
#: the methods of the GNR paper's tables 1 and 2 (each suite adds its GNR variant)
_GNR_COMPARED = ("mean", "MICE", "MissForest", "MIWAE", "not-MIWAE_selfmasking", "GNR")
_GNR_ROWS = {
    "GNR": "GNR",
    "GNR-unscaled": "GNR",
    "GNR-set": "GNR",
    "not-MIWAE_selfmasking": "not-MIWAE",
    "MIWAE": "MIWAE",
}

GNR_TABLE1 = PaperTable(
    label="GNR T1",
    filename="gnr_table1_synthetic_rmse.csv",
    methods={**_GNR_ROWS, "mean": "mean", "MICE": "MICE", "MissForest": "MissForest"},
    columns={
        "gauss4_p20": "p20",
        "gauss4_p80": "p80",
        "gauss4_p100": "p100",
        "gauss4_star": "star",
        "gauss4_p80_mcar20": "p80_mcar20",
    },
)

GNR_TABLE2 = PaperTable(
    label="GNR T2",
    filename="gnr_table2_uci_rmse.csv",
    methods={**_GNR_ROWS, "mean": "mean", "MICE": "MICE", "MissForest": "MissForest"},
    columns={f"{d}_{p}": f"{c}_{n}" for d, c in _GNR_UCI.items() for p, n in _GNR_PS.items()},
)

GNR_TABLE3 = PaperTable(
    label="GNR T3 mask acc",
    filename="gnr_table3_mask_accuracy.csv",
    methods={
        "GNR": "GNR",
        "GNR-unscaled": "GNR",
        "GNR-set": "GNR",
        "not-MIWAE_selfmasking": "not-MIWAE",
    },
    columns=GNR_TABLE2.columns,
    metric="mask_accuracy",
    scale=0.01,
)

#: The not-MIWAE paper's neural rows (Table 1): three missing models, two decoders, no model.
NOT_MIWAE_METHODS = (
    "not-MIWAE_selfmasking_known",
    "not-MIWAE_selfmasking_known-unscaled",
    "MIWAE",
    "not-MIWAE_selfmasking",
    "not-MIWAE_linear",
    "not-MIWAE-PPCA_selfmasking_known",
    "not-MIWAE-PPCA_selfmasking",
    "not-MIWAE-PPCA_linear",
    "PPCA",
)


@dataclass(frozen=True)
class Suite:
    """A benchmark suite.

    ``datasets`` and ``n_seeds`` are per profile (``"quick"`` or ``"paper"``). Every task is the
    MNAR self-masking protocol with probability ``p`` in the first half of the columns, unless
    the dataset's name sets it (see :func:`benchmarks._data.make_task`). ``method_params`` are
    set on every method that has them (for example GNR's 1-d latent space on the synthetic
    data).
    """

    name: str
    description: str
    datasets: dict
    methods: tuple
    n_seeds: dict
    p: float = 1.0
    papers: tuple = field(default_factory=tuple)
    method_params: dict = field(default_factory=dict)


SUITES = {
    suite.name: suite
    for suite in (
        Suite(
            name="quick",
            description=(
                "scikit-learn's breast cancer data, standardised; MNAR self-masking (p = 1): in "
                "the first 15 columns every entry above its column mean is missing. RMSE on the "
                "missing entries, standardised scale. not-MIWAE: the default estimator "
                "(scale=True standardises again with the observed statistics); `-unscaled`: "
                "scale=False, the paper's own preprocessing."
            ),
            datasets={"quick": ("breast",), "paper": ("breast",)},
            methods=(
                "mean",
                "MICE",
                "MissForest",
                "not-MIWAE_selfmasking_known",
                "not-MIWAE_selfmasking_known-unscaled",
            ),
            n_seeds={"quick": 3, "paper": 5},
            papers=(NOT_MIWAE_TABLE1,),
        ),
        Suite(
            name="mnar_uci",
            description=(
                "Breast cancer and the six UCI sets, standardised after dropping the target or "
                "label column (abalone: rings and sex); MNAR self-masking (p = 1) in the first "
                "half of the columns. RMSE on the missing entries, standardised scale. Neural "
                "imputers: defaults (scale=True: the observed columns are standardised again "
                "with their observed statistics), epochs for about 5400 gradient steps of batch "
                "32 (at most the default 300); `-unscaled`: scale=False, the paper's own "
                "preprocessing."
            ),
            datasets={"quick": ("breast", "banknote", "concrete"), "paper": MNAR_DATASETS},
            methods=("mean", "MICE", "MissForest") + NOT_MIWAE_METHODS,
            n_seeds={"quick": 2, "paper": 5},
            papers=(NOT_MIWAE_TABLE1, GNR_TABLE2_100),
        ),
        Suite(
            name="gnr_synthetic",
            description=(
                "GNR's Table 1: a 4-d Gaussian with a weak 1-d latent structure (2000 rows, "
                "standardised; see benchmarks._data.gaussian4), x1 and x2 self-masked above "
                "their mean with probability 0.2, 0.8 or 1; `star`: x1 missing above its mean, "
                "x2 below; `p80_mcar20`: 80% self-masking plus 20% MCAR on every feature. Neural "
                "imputers with a 1-d latent space, as the paper; `-unscaled`: scale=False, the "
                "paper's own preprocessing (the data are standardised before masking). RMSE on "
                "the missing entries; mask acc: the reconstructed mask on the features with "
                "missing values."
            ),
            datasets={"quick": GNR_SYNTHETIC_TASKS, "paper": GNR_SYNTHETIC_TASKS},
            methods=(
                *_GNR_COMPARED,
                "GNR-unscaled",
            ),
            n_seeds={"quick": 2, "paper": 5},
            papers=(GNR_TABLE1,),
            method_params={"latent_dim": 1},
        ),
        Suite(
            name="gnr_uci",
            description=(
                "GNR's Tables 2 and 3: white wine, abalone (without its categorical sex column), "
                "banknote, yeast, red wine and concrete (with its strength column, as the "
                "paper), standardised; the first half of the "
                "columns self-masked above their mean with probability 0.2, 0.8 or 1 (`_p20`, "
                "`_p80`, `_p100`). RMSE on the missing entries; mask acc: the reconstructed "
                "mask on the features with missing values (GNR's Table 3, as a fraction). "
                "`GNR`: the default zero-filled MLP encoder; `GNR-set`: the permutation-"
                'invariant set encoder (`encoder="set"`), the paper\'s stated choice outside '
                "its synthetic experiment."
            ),
            datasets={
                "quick": ("banknote_p20", "banknote_p80", "banknote_p100"),
                "paper": GNR_UCI_TASKS,
            },
            methods=(
                *_GNR_COMPARED,
                "GNR-set",
            ),
            n_seeds={"quick": 1, "paper": 5},
            papers=(GNR_TABLE2, GNR_TABLE3),
        ),
        Suite(
            name="gnr_alpha",
            description=(
                "GNR's Figure 6: RMSE against alpha in {0.01, 1, 100} on the six UCI sets at "
                "self-masking probability 0.8 (`_p80`)."
            ),
            datasets={
                "quick": ("banknote_p80",),
                "paper": tuple(f"{d}_p80" for d in _GNR_UCI),
            },
            methods=("GNR_alpha0.01", "GNR", "GNR_alpha100"),
            n_seeds={"quick": 1, "paper": 3},
        ),
        Suite(
            name="gpsi_tabular",
            description=(
                "GPSI on tabular data: scikit-learn's digits (8 x 8 grey levels divided by 16, "
                "not standardised), breast cancer and the six UCI sets (standardised, target or "
                "label dropped), every entry missing completely at random with probability 0.2 "
                "or 0.5 (`_mcar20`, `_mcar50`). RMSE on the missing entries. GPSI: the direct "
                "model with its defaults, trained on the incomplete data (half of the observed "
                "entries of each batch hidden and learned on), epochs for about 5400 gradient "
                "steps of batch 128 (at most 300)."
            ),
            datasets={
                "quick": ("digits_mcar20", "digits_mcar50"),
                "paper": tuple(
                    f"{d}_mcar{r}"
                    for d in ("digits",)
                    + tuple(n for n in MNAR_DATASETS if n != "concrete_strength")
                    for r in (20, 50)
                ),
            },
            methods=("mean", "MICE", "MissForest", "GPSI-add", "GPSI-jump"),
            n_seeds={"quick": 1, "paper": 3},
            p=0.0,
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
