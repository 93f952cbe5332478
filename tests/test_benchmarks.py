"""The benchmark runner: cells, raw files, resuming and the report."""

import json

import numpy as np
import pytest

from benchmarks.__main__ import main
from benchmarks._data import load_complete, make_task, self_masking_task
from benchmarks._measure import measure
from benchmarks._report import paper_value
from benchmarks._runner import cached_record, raw_path, run_suite
from benchmarks._suites import NOT_MIWAE_TABLE1, SUITES


def test_breast_protocol_matches_the_papers_mean_row():
    X, X_missing, mask = self_masking_task("breast", p=1.0, seed=0)
    assert X.shape == (569, 30)
    assert np.allclose(X.mean(axis=0), 0) and np.allclose(X.std(axis=0), 1)
    # Only the first 15 columns lose values, and exactly those above the column mean.
    assert mask[:, 15:].all()
    assert np.array_equal(~mask[:, :15], X[:, :15] > 0)
    means = np.nanmean(X_missing, axis=0)
    rmse = np.sqrt(np.mean((X - means)[~mask] ** 2))
    assert rmse == pytest.approx(1.82, abs=0.005)


def test_run_suite_writes_raw_files_and_resumes(tmp_path):
    suite = SUITES["quick"]
    records = run_suite(suite, methods=("mean",), n_seeds=2, out_dir=tmp_path, log=lambda *a: None)
    assert [r["seed"] for r in records] == [0, 1]
    for seed in (0, 1):
        path = raw_path(tmp_path, suite, "breast", "mean", seed)
        saved = json.loads(path.read_text())
        assert saved["rmse"] == pytest.approx(1.82, abs=0.005)
        assert saved["machine"]
    # A resumed run reads the files back instead of recomputing: mark one and see it return.
    path = raw_path(tmp_path, suite, "breast", "mean", 0)
    saved = json.loads(path.read_text())
    saved["rmse"] = -1.0
    path.write_text(json.dumps(saved))
    resumed = run_suite(
        suite, methods=("mean",), n_seeds=2, resume=True, out_dir=tmp_path, log=lambda *a: None
    )
    assert resumed[0]["rmse"] == -1.0
    fresh = run_suite(suite, methods=("mean",), n_seeds=1, out_dir=tmp_path, log=lambda *a: None)
    assert fresh[0]["rmse"] == pytest.approx(1.82, abs=0.005)


def test_unknown_method_is_named(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        run_suite(SUITES["quick"], methods=("nope",), out_dir=tmp_path)


def test_cli_writes_report_with_paper_numbers(tmp_path, capsys, shared_paper_results):
    main(
        [
            "--suite",
            "quick",
            "--methods",
            "mean",
            "MICE",
            "--seeds",
            "1",
            "--out-dir",
            str(tmp_path),
        ]
    )
    text = (tmp_path / "quick.md").read_text()
    assert "| breast | mean | 1 | 1.820 |" in text
    # The paper's numbers stand beside ours: not-MIWAE Table 1 has mean 1.82, MICE 1.17.
    assert text.splitlines()[-2].endswith("| 1.82 |")
    assert text.splitlines()[-1].endswith("| 1.17 |")
    assert (tmp_path / "quick.csv").exists()
    assert "RMSE" in capsys.readouterr().out


def test_paper_value_lookup(shared_paper_results):
    assert paper_value(NOT_MIWAE_TABLE1, "banknote", "MissForest", shared_paper_results) == 1.28
    assert paper_value(NOT_MIWAE_TABLE1, "abalone", "mean", shared_paper_results) is None
    assert paper_value(NOT_MIWAE_TABLE1, "breast", "no-such-method", shared_paper_results) is None


def test_uci_datasets_load_standardised(shared_datasets_dir, monkeypatch):
    # With no data home given, the runner reads ../shared/datasets beside the repository.
    monkeypatch.delenv("SKIMPUTE_DATA", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # so load_uci's own cache cannot serve it
    X = load_complete("banknote")
    assert X.shape == (1372, 4)
    assert np.allclose(X.mean(axis=0), 0, atol=1e-12)


def test_measure_sees_an_allocation():
    with measure() as m:
        block = np.ones(50 * 2**20 // 8)  # 50 MiB, touched
        block[::512] = 2.0
    del block
    assert m.seconds > 0
    assert 30 < m.peak_mb < 200


def test_neural_budget_is_the_default_on_breast_and_fewer_epochs_on_larger_data():
    from benchmarks._methods import METHODS, neural_epochs

    assert neural_epochs(569, 32) == 300  # breast cancer: the estimator's own default
    assert neural_epochs(4898, 32) == 35  # white wine: about the same number of steps
    assert neural_epochs(10, 32) == 300  # never more than the default
    estimator = METHODS["not-MIWAE-PPCA_linear"](3, 4898)
    assert estimator.get_params()["decoder"] == "linear"
    assert estimator.get_params()["missing_model"] == "linear"
    assert estimator.get_params()["random_state"] == 3
    assert estimator.get_params()["max_epochs"] == 35
    assert METHODS["MIWAE"](0, 100).get_params()["missing_model"] is None


def test_unscaled_methods_differ_only_in_scale_and_sit_beside_the_papers_rows(
    shared_paper_results,
):
    from benchmarks._methods import METHODS
    from benchmarks._suites import GNR_TABLE1, GNR_TABLE3

    for scaled, unscaled in [
        ("GNR", "GNR-unscaled"),
        ("not-MIWAE_selfmasking_known", "not-MIWAE_selfmasking_known-unscaled"),
    ]:
        a, b = METHODS[scaled](1, 500).get_params(), METHODS[unscaled](1, 500).get_params()
        assert a["scale"] is True and b["scale"] is False
        assert {k: v for k, v in a.items() if k != "scale"} == {
            k: v for k, v in b.items() if k != "scale"
        }
    gnr = paper_value(GNR_TABLE1, "gauss4_p100", "GNR", shared_paper_results)
    assert gnr is not None
    assert paper_value(GNR_TABLE1, "gauss4_p100", "GNR-unscaled", shared_paper_results) == gnr
    assert paper_value(GNR_TABLE3, "banknote_p80", "GNR-unscaled", shared_paper_results) == (
        pytest.approx(0.9102)
    )


def test_gnr_set_differs_only_in_the_encoder_and_sits_beside_the_papers_row(
    shared_paper_results,
):
    from benchmarks._methods import METHODS
    from benchmarks._suites import GNR_TABLE2, GNR_TABLE3, SUITES

    a, b = METHODS["GNR"](1, 500).get_params(), METHODS["GNR-set"](1, 500).get_params()
    assert a["encoder"] == "mlp" and b["encoder"] == "set"
    assert {k: v for k, v in a.items() if k != "encoder"} == {
        k: v for k, v in b.items() if k != "encoder"
    }
    assert "GNR-set" in SUITES["gnr_uci"].methods
    for table, task in [(GNR_TABLE2, "banknote_p100"), (GNR_TABLE3, "banknote_p80")]:
        gnr = paper_value(table, task, "GNR", shared_paper_results)
        assert gnr is not None
        assert paper_value(table, task, "GNR-set", shared_paper_results) == gnr


def test_paper_table_names_every_not_miwae_row(shared_paper_results):
    import pandas as pd

    from benchmarks._suites import NOT_MIWAE_METHODS

    rows = set(pd.read_csv(shared_paper_results / NOT_MIWAE_TABLE1.filename, comment="#").method)
    for method in NOT_MIWAE_METHODS:
        assert NOT_MIWAE_TABLE1.methods[method] in rows


def test_speed_benchmark_writes_its_tables(tmp_path):
    from benchmarks.speed import main as speed_main

    speed_main(
        [
            "--models",
            "MIWAE",
            "--batch-sizes",
            "64",
            "--train-rows",
            "128",
            "--epochs",
            "2",
            "--transform-rows",
            "50",
            "--out-dir",
            str(tmp_path),
        ]
    )
    text = (tmp_path / "speed.md").read_text()
    assert "| MIWAE | 64 | 128 | 2 |" in text
    assert "| MIWAE | 50 | 1000 |" in text
    record = json.loads((tmp_path / "raw" / "speed" / "MIWAE__train_b64.json").read_text())
    assert record["overhead"] > 0 and record["plain_s_per_epoch"] > 0


def test_task_names_set_the_missing_data_setting():
    from benchmarks._data import make_task, parse_task

    assert parse_task("red_wine") == ("red_wine", None, False, 0.0)
    assert parse_task("red_wine_p20") == ("red_wine", 0.2, False, 0.0)
    assert parse_task("gauss4_p80_mcar20") == ("gauss4", 0.8, False, 0.2)
    assert parse_task("gauss4_star") == ("gauss4", None, True, 0.0)
    X, X_missing, mask = make_task("gauss4_star", seed=0)
    assert X.shape == (2000, 4) and mask[:, 2:].all()
    assert np.array_equal(~mask[:, 0], X[:, 0] > 0)  # x1 missing above its mean
    assert np.array_equal(~mask[:, 1], X[:, 1] < 0)  # x2 missing below its mean
    _, _, mask = make_task("gauss4_p80_mcar20", seed=0)
    assert 0.1 < 1 - mask[:, 2:].mean() < 0.3  # MCAR reaches the other columns too
    # nearly uncorrelated features: the mean imputation gives the paper's mean row (1.71 at 100%)
    X, X_missing, mask = make_task("gauss4_p100", seed=0)
    rmse = np.sqrt(np.mean((X - np.nanmean(X_missing, axis=0))[~mask] ** 2))
    assert rmse == pytest.approx(1.71, abs=0.02)
    X, _, mask = make_task("gauss4_p20", seed=1)
    above = X[:, :2] > 0
    assert 0.1 < (~mask[:, :2])[above].mean() < 0.3 and mask[:, :2][~above].all()


def test_mask_accuracy_is_recorded_beside_gnr_table3(tmp_path, shared_paper_results):
    from benchmarks._report import summarise
    from benchmarks._suites import GNR_TABLE3

    assert paper_value(GNR_TABLE3, "banknote_p80", "GNR", shared_paper_results) == pytest.approx(
        0.9102
    )
    suite = SUITES["gnr_synthetic"]
    records = run_suite(
        suite,
        datasets=("gauss4_p100",),
        methods=("mean",),
        n_seeds=1,
        out_dir=tmp_path,
        log=lambda *a: None,
    )
    assert records[0]["mask_accuracy"] is None  # the mean has no mask model
    assert summarise(records, suite)["mask_accuracy"].isna().all()


def test_alpha_plot_reads_gnr_methods(tmp_path):
    from benchmarks.plots import method_alpha, plot_alpha

    assert method_alpha("GNR") == 1.0 and method_alpha("GNR_alpha0.01") == 0.01
    assert method_alpha("MIWAE") is None
    raw = tmp_path / "raw" / "gnr_alpha" / "banknote_p80"
    raw.mkdir(parents=True)
    for method, rmse in [("GNR_alpha0.01", 1.2), ("GNR", 0.9), ("GNR_alpha100", 1.0)]:
        record = {"dataset": "banknote_p80", "method": method, "rmse": rmse}
        (raw / f"{method}__seed0.json").write_text(json.dumps(record))
    assert plot_alpha(tmp_path).exists()


def test_concrete_with_strength_reproduces_the_papers_mice(shared_datasets_dir):
    import warnings

    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer
    from sklearn.linear_model import BayesianRidge

    from benchmarks._suites import GNR_UCI_TASKS

    assert "concrete_strength_p80" in GNR_UCI_TASKS
    scores = {}
    for name in ("concrete", "concrete_strength"):
        X, X_missing, mask = make_task(name, seed=0, data_home=shared_datasets_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X_hat = IterativeImputer(estimator=BayesianRidge(), random_state=0).fit_transform(
                X_missing
            )
        scores[name] = (X.shape[1], np.sqrt(np.mean((X - X_hat)[~mask] ** 2)))
    # the papers' MICE on concrete is 1.70 (not-MIWAE Table 1) and 1.69 (GNR Table 2)
    assert scores["concrete_strength"][0] == 9
    assert scores["concrete_strength"][1] == pytest.approx(1.70, abs=0.01)
    assert scores["concrete"][1] > 1.8


def test_cli_rejects_zero_seeds_and_reports_when_nothing_ran(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--suite", "quick", "--seeds", "0", "--out-dir", str(tmp_path)])
    assert "number of seeds" in capsys.readouterr().err
    # report-only with no raw result: a clear message and a failing exit status, not a traceback
    assert main(["--suite", "quick", "--report-only", "--out-dir", str(tmp_path)]) == 1
    assert "no result to report" in capsys.readouterr().out


def test_gpsi_tabular_tasks_are_mcar_alone_and_digits_keep_grey_levels():
    from benchmarks._data import make_task
    from benchmarks._methods import METHODS
    from benchmarks._suites import SUITES

    suite = SUITES["gpsi_tabular"]
    assert suite.p == 0.0
    X, X_missing, mask = make_task("digits_mcar50", seed=0, p=suite.p)
    assert X.shape == (1797, 64) and X.min() == 0.0 and X.max() == 1.0
    assert 0.48 < 1 - mask.mean() < 0.52
    # missing completely at random: every column loses about half, high values no more often
    assert (1 - mask.mean(axis=0)).min() > 0.35
    assert np.array_equal(np.isnan(X_missing), ~mask)
    high = X > 0.5
    assert abs((~mask)[high].mean() - (~mask)[~high].mean()) < 0.03
    for method in ("GPSI-add", "GPSI-jump"):
        estimator = METHODS[method](0, X.shape[0])
        assert estimator.update == method.split("-")[1] and estimator.max_epochs == 300


def test_cached_record_computes_once_when_resuming(tmp_path):
    path = tmp_path / "raw" / "cell.json"
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    assert cached_record(path, compute, resume=True) == {"value": 1}
    assert json.loads(path.read_text()) == {"value": 1}
    assert cached_record(path, compute, resume=True) == {"value": 1}  # read back
    assert len(calls) == 1
    assert cached_record(path, compute, resume=False) == {"value": 2}  # computed again
    assert json.loads(path.read_text()) == {"value": 2}
