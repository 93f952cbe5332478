"""The NAOMI benchmark script on a tiny budget: cells, raw files, resuming, the report."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmarks.naomi import (
    PROFILES,
    Models,
    Profile,
    billiards,
    conditional_mean_paths,
    main,
    make_model,
    models_dir,
    random_walks,
    raw_path,
    run,
    write_report,
)
from skimpute.datasets import make_billiards

torch.set_num_threads(1)

TINY = Profile(
    name="tiny",
    n_train=24,
    n_test=6,
    n_timesteps=24,
    fractions=(0.5, 0.9),
    rnn_size=8,
    hidden=8,
    max_epochs=1,
    batch_size=12,
    speed_sequences=8,
    naive_sequences=3,
    walk=dict(
        n_train=16,
        n_test=4,
        n_timesteps=12,
        max_epochs=1,
        adversarial_epochs=1,
        lr=3e-3,
        adversarial_lr=1e-3,
        discriminator_lr=1e-2,
    ),
)


def test_run_writes_cells_resumes_and_reports(tmp_path):
    logs = []
    records = run(TINY, out_dir=tmp_path, log=logs.append)
    experiments = {r["experiment"] for r in records}
    assert experiments == {"imputation", "forward", "fraction", "speed", "adversarial"}
    cell = {(r["experiment"], r["method"], r["setting"]): r for r in records}
    truth = cell["imputation", "GroundTruth", ""]
    assert truth["l2_missing"] == 0.0
    assert truth["statistics"]["sinuosity"]["mean"] == pytest.approx(1.0, abs=0.02)
    linear = cell["imputation", "Linear", ""]
    assert linear["l2_missing"] > 0 and len(linear["example"]) == 24
    speed = cell["speed", "NAOMI", ""]
    assert speed["same_result"] and speed["speedup"] > 0
    path = raw_path(tmp_path, TINY, "imputation", "Linear", "", 0)
    assert json.loads(path.read_text())["method"] == "Linear"
    # resuming reads the cells back: a marked value comes back and nothing is fitted again
    saved = json.loads(path.read_text())
    saved["l2_missing"] = -1.0
    path.write_text(json.dumps(saved))
    logs.clear()
    resumed = run(TINY, out_dir=tmp_path, resume=True, log=logs.append)
    assert not logs
    assert next(r for r in resumed if r["method"] == "Linear")["l2_missing"] == -1.0
    text = write_report(records, TINY, tmp_path, machine="test machine")
    assert "Table 1" in text and "figure 4" in text and "speed-up" in text
    assert "Unfinished" not in text
    assert (tmp_path / "naomi_billiards_tiny.csv").exists()
    assert (tmp_path / "naomi_billiards_tiny.md").read_text() == text


def test_cli_runs_one_experiment(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(PROFILES, "quick", TINY)
    main(["--profile", "quick", "--experiments", "imputation", "--out-dir", str(tmp_path)])
    assert "## Imputation" in capsys.readouterr().out


def test_checkpointed_training_continues_where_it_stopped(tmp_path, monkeypatch):
    import pickle

    profile = replace(TINY, max_epochs=2, checkpoint=True)
    X_train = billiards(profile, 0)[0]
    model_dir = models_dir(tmp_path, profile)
    # a run stopped after the first epoch: its checkpoint holds the model after one call
    one = make_model("NAOMI", profile, 0).partial_fit(X_train)
    model_dir.mkdir(parents=True)
    (model_dir / "NAOMI__seed0.pkl").write_bytes(pickle.dumps((one, 5.0)))
    logs = []
    model, seconds = Models(profile, logs.append, model_dir).get("NAOMI", 0, X_train)
    assert logs[0] == "  NAOMI (seed 0): from its checkpoint, epoch 1"
    assert model.n_epochs_ == 2 and seconds > 5.0
    straight = make_model("NAOMI", profile, 0)
    for _ in range(2):
        straight.partial_fit(X_train)
    for a, b in zip(model.net_.module_.parameters(), straight.net_.module_.parameters()):
        assert torch.equal(a, b)
    saved, saved_seconds = pickle.loads((model_dir / "NAOMI__seed0.pkl").read_bytes())
    assert saved.n_epochs_ == 2 and saved_seconds == seconds
    # a finished checkpoint is read back, not trained again
    logs.clear()
    assert Models(profile, logs.append, model_dir).get("NAOMI", 0, X_train)[0].n_epochs_ == 2
    assert logs == ["  NAOMI (seed 0): from its checkpoint, epoch 2"]
    # KNN has no partial_fit: fitted as usual, nothing saved
    Models(profile, logs.append, model_dir).get("KNN", 0, X_train)
    assert sorted(p.name for p in model_dir.iterdir()) == ["NAOMI__seed0.pkl"]
    # a checkpoint of other parameters is refused
    with pytest.raises(ValueError, match="other parameters"):
        Models(replace(profile, lr=1e-2), logs.append, model_dir).get("NAOMI", 0, X_train)
    # run() with a checkpointing profile and --methods: only those cells, checkpoints kept
    records = run(profile, experiments=("imputation",), methods=("NAOMI",), out_dir=tmp_path)
    assert [r["method"] for r in records] == ["NAOMI"]
    monkeypatch.setitem(PROFILES, "quick", profile)
    args = ["--profile", "quick", "--experiments", "imputation", "--out-dir", str(tmp_path)]
    assert main(args + ["--methods", "Linear"]) == 0
    assert not (tmp_path / "naomi_billiards_tiny.md").exists()
    # the report of the cells on disk (NAOMI and Linear), nothing run
    monkeypatch.setattr("benchmarks.naomi.Models.get", lambda *a, **k: pytest.fail("trained"))
    assert main(args + ["--report-only"]) == 0
    text = (tmp_path / "naomi_billiards_tiny.md").read_text()
    assert "| NAOMI | 0." in text and "| Linear | 0." in text and "| KNN |  |" in text
    assert "**Unfinished run**" in text and "KNN (imputation), RNN (imputation)" in text
    assert "(speed)" not in text  # only the imputation was asked for
    # asked for every experiment, the report names those with no cell on disk too
    assert main(["--profile", "quick", "--out-dir", str(tmp_path), "--report-only"]) == 0
    text = (tmp_path / "naomi_billiards_tiny.md").read_text()
    assert "NAOMI (speed)" in text and "NAOMI (fraction)" in text and "RNN (forward)" in text


def test_random_walks_are_smooth_and_seeded():
    X = random_walks(10, 30, np.random.default_rng(0))
    assert X.shape == (10, 30, 2)
    assert np.array_equal(X, random_walks(10, 30, np.random.default_rng(0)))
    steps = np.diff(X, axis=1)
    correlation = np.mean(np.sum(steps[:, 1:] * steps[:, :-1], -1)) / np.mean(np.sum(steps**2, -1))
    assert correlation > 0.5  # persistent velocities


def test_conditional_mean_floor():
    from skimpute.datasets import make_billiards

    _, X = make_billiards(n_train=0, n_test=40, n_timesteps=60, random_state=0)
    floor = conditional_mean_paths(X, seed=0, n_draws=500)
    assert floor.shape == X.shape
    np.testing.assert_allclose(floor[:, 0], X[:, 0])  # the known step is the known step
    # from the centre no path reaches a wall within 12 steps (speed <= 0.08), and the
    # directions are uniform, so the mean stays at the start
    centre = conditional_mean_paths(np.zeros((1, 12, 2)), seed=0, n_draws=4000)
    np.testing.assert_allclose(centre, 0.0, atol=0.01)
    # the conditional mean beats every other prediction from p_0 alone: standing still, the
    # centre of the box, and the truth of another sequence
    error = np.mean((floor - X) ** 2)
    assert error < np.mean((X[:, :1] - X) ** 2)
    assert error < np.mean(X**2)
    assert error < np.mean((np.roll(X, 1, axis=0) - X) ** 2)


def test_readout_decoder_errors_against_the_midpoint():
    from benchmarks.naomi_readout import decoder_errors, make_variant

    model = make_variant(TINY, "interpolation", 0)
    assert model.train_mask == (0.0, 0.0) and model.teacher_forcing == 1.0
    rng = np.random.default_rng(0)
    start, velocity = rng.uniform(-0.5, 0.5, (6, 1, 2)), rng.uniform(-0.01, 0.01, (6, 1, 2))
    X = start + velocity * np.arange(24)[None, :, None]  # straight paths
    model.fit(X)
    rows = decoder_errors(model, X)
    # T = 24 allows s = 1, ..., 8, each with both neighbours inside the sequence
    assert [r["step"] for r in rows] == [1, 2, 4, 8]
    for r in rows:
        assert r["midpoint_rmse"] == pytest.approx(0.0, abs=1e-12)
        assert r["rmse"] > 1e-4  # one epoch of a tiny network does not interpolate exactly


def test_readout_jitter_by_level_locates_the_kinks():
    from benchmarks.naomi_readout import jitter_by_level, step_levels

    known = np.zeros((1, 9), dtype=bool)
    known[0, [0, 8]] = True
    levels = step_levels(known, 4)
    assert levels.tolist() == [[-1, 0, 1, 0, 2, 0, 1, 0, -1]]
    X = np.stack([np.arange(9.0), np.zeros(9)], -1)[None]
    X_hat = X.copy()
    X_hat[0, 4, 1] = 0.5  # a kink at the point of the s = 4 decoder
    rows = {r["level"]: r for r in jitter_by_level(X_hat, X, levels)}
    assert rows[2]["step_change"] == pytest.approx(0.0)  # |step 3->4| = |step 4->5|
    # the neighbours, points 3 and 5 (s = 1), see it; points 1 and 7 (s = 1), 2 and 6 (s = 2) not
    assert rows[0]["step_change"] == pytest.approx(2 * (np.sqrt(1.25) - 1) / 4)
    assert rows[1]["step_change"] == pytest.approx(0.0)
    assert rows[2]["position_error"] == pytest.approx(0.5)
    assert rows[0]["position_error"] == pytest.approx(0.0)
    assert rows[-1]["step_change"] is None  # the known points are the ends: no inner point
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)


def test_readout_record_and_report():
    from benchmarks.naomi_readout import report_text, run_variant

    record = run_variant(TINY, "default", 0)
    assert record["variant"] == "default" and record["max_epochs"] == 1
    assert record["step_change_truth"] > 0 and record["l2_missing"] > 0
    assert sum(row["share"] for row in record["by_gap"]) == pytest.approx(1.0)
    knn = run_variant(TINY, "knn", 0)  # a reference: the imputation task only
    assert knn["max_epochs"] is None and knn["decoder_errors"] == knn["by_level"] == []
    assert knn["l2_missing"] > 0 and knn["by_gap"]
    text = report_text([record, knn])
    assert "| default | 0 | 1 |" in text and "s = 1" in text
    assert "| knn | 0 |" in text and text.count("| knn | 0 |") == 2  # no decoder row
    assert "across seeds" not in text  # one seed: no table across seeds


def test_readout_variants_lr_step_and_longer_schedule():
    from benchmarks.naomi_readout import make_variant

    X = make_billiards(n_train=12, n_test=1, n_timesteps=24, random_state=0)[0]
    model = make_variant(replace(TINY, max_epochs=4), "lr-step", 0)
    (callback,) = model.callbacks
    assert (callback.lr, callback.step, callback.factor) == (TINY.lr, 2, 10.0)
    model.fit(X)
    # the authors' schedule: lr / 10 after half the epochs
    expected = [TINY.lr, TINY.lr, TINY.lr / 10, TINY.lr / 10]
    assert model.net_.history[:, "event_lr"] == pytest.approx(expected)
    assert model.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(TINY.lr / 10)
    # one partial_fit per epoch (the paper profile's checkpoints) keeps the same schedule,
    # and the unfitted variant's parameters equal a fitted one's (a checkpoint is resumable)
    by_epochs = make_variant(replace(TINY, max_epochs=4), "lr-step", 0)
    for _ in range(4):
        by_epochs.partial_fit(X)
    assert by_epochs.net_.history[:, "event_lr"] == pytest.approx(expected)
    assert (
        by_epochs.get_params()
        == make_variant(replace(TINY, max_epochs=4), "lr-step", 0).get_params()
    )
    assert make_variant(TINY, "singleres-lr-step", 0).n_resolutions == 1
    long = make_variant(TINY, "masks-50-100-tf90-2x", 0)
    assert long.max_epochs == 2 * TINY.max_epochs and long.teacher_forcing == 0.9
    assert long.train_mask == (0.5, 1.0)


def _readout_record(variant, steps, seed=0, l2_missing=0.5):
    """A record of naomi_readout with made-up numbers, for the report's layout."""
    return {
        "profile": "tiny",
        "variant": variant,
        "seed": seed,
        "max_epochs": 1,
        "fit_seconds": 1.0,
        "decoder_errors": [
            {"level": i, "step": s, "rmse": 0.1 * (i + 1), "midpoint_rmse": 0.01 * (i + 1)}
            for i, s in enumerate(steps)
        ],
        "l2_missing": l2_missing,
        "step_change": 0.01 * (seed + 1),
        "step_change_truth": 0.001,
        "step_size_truth": 0.05,
        "by_level": [],
        "machine": "test",
    }


def test_readout_report_aligns_variants_with_fewer_decoders():
    from benchmarks.naomi_readout import make_variant, report_text

    assert make_variant(TINY, "resolutions-4", 0).n_resolutions == 4
    assert make_variant(TINY, "tf-33", 0).teacher_forcing == pytest.approx(1 / 3)
    record = _readout_record

    # the variant with fewer decoders first: the columns are those of every variant
    text = report_text([record("resolutions-2", [1, 2]), record("default", [1, 2, 4])])
    assert "| variant | seed | epochs | s = 1 | s = 2 | s = 4 |" in text
    assert "| midpoint | 0 | – | 0.0100 | 0.0200 | 0.0300 |" in text
    assert "| resolutions-2 | 0 | 1 | 0.1000 | 0.2000 | – |" in text
    assert "| default | 0 | 1 | 0.1000 | 0.2000 | 0.3000 |" in text


def test_readout_error_by_gap_length():
    from benchmarks.naomi_readout import error_by_gap, report_text

    T = 100
    known = np.ones((2, T), dtype=bool)
    known[0, 1:4] = False  # a gap of 3
    known[0, 10:30] = False  # a gap of 20
    known[1, 30:] = False  # a trailing gap of 70
    truth = np.zeros((2, T, 2))
    imputed = truth.copy()
    imputed[0, 1:4] = 1.0  # squared error 1 per value
    imputed[0, 10:30, 0] = 2.0  # (4 + 0) / 2 = 2 per value
    imputed[1, 30:] = 3.0
    rows = error_by_gap(imputed, truth, known)
    assert [(r["low"], r["high"]) for r in rows] == [(1, 8), (17, 32), (65, None)]
    assert [r["l2"] for r in rows] == pytest.approx([1.0, 2.0, 9.0])
    assert [r["share"] for r in rows] == pytest.approx([3 / 93, 20 / 93, 70 / 93])
    # the report's table, only for the records that have it
    record = dict(_readout_record("default", [1]), by_gap=rows)
    text = report_text([_readout_record("tf-33", [1]), record])
    assert "| default | 0 | 1.0000 (3%) | – | 2.0000 (22%) | – | 9.0000 (75%) |" in text
    # tf-33 has no gaps: its rows are those of the decoder and imputation tables only
    assert "| tf-33 | 0 | 1 | 0.1000 |" in text and text.count("| tf-33 |") == 2


def test_readout_report_across_seeds():
    from benchmarks.naomi_readout import report_text

    records = [
        _readout_record("default", [1, 2], seed=0, l2_missing=0.2),
        _readout_record("default", [1, 2], seed=1, l2_missing=0.4),
        _readout_record("singleres", [1], seed=1, l2_missing=0.1),
    ]
    text = report_text(records)
    assert "seeds 0, 1." in text and "## The imputation task across seeds" in text
    assert "| variant | L2, seed 0 | L2, seed 1 | mean L2 | mean step change (1e-3) |" in text
    # the mean over the seeds a variant has; a seed it lacks is a dash
    assert "| default | 0.2000 | 0.4000 | 0.3000 | 15.0 |" in text
    assert "| singleres | – | 0.1000 | 0.1000 | 20.0 |" in text
    # one row per (variant, seed) in the decoder table, and a midpoint row per seed
    assert "| default | 1 | 1 | 0.1000 | 0.2000 |" in text
    assert "| midpoint | 0 | – | 0.0100 | 0.0200 |" in text
    assert "| midpoint | 1 | – | 0.0100 | 0.0200 |" in text


def test_curve_follows_the_training_schedule(tmp_path):
    from benchmarks.naomi_curve import main as curve_main
    from benchmarks.naomi_curve import raw_path as curve_path

    profile = replace(TINY, name="tiny", max_epochs=3, teacher_forcing=1 / 3)
    PROFILES["tiny"] = profile
    try:
        assert curve_main(["--profile", "tiny", "--out-dir", str(tmp_path)]) == 0
    finally:
        del PROFILES["tiny"]
    record = json.loads(curve_path(tmp_path, "tiny", "NAOMI", 0).read_text())
    rows = record["epochs"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    # the schedule of fit: one teacher-forced epoch (a third of 3), then free running
    assert [r["stage"] for r in rows] == ["teacher_forcing", "free_running", "free_running"]
    assert all(r["l2_missing"] > 0 and np.isfinite(r["train_loss"]) for r in rows)
    assert rows[0]["seconds"] < rows[1]["seconds"] < rows[2]["seconds"]
    text = (tmp_path / "naomi_curve_tiny.md").read_text()
    assert "| NAOMI |" in text and "| SingleRes |" in text and "(FR)" in text
    assert (tmp_path / "naomi_curve_tiny.png").stat().st_size > 0

    # two more epochs after the schedule stay free-running; the report keeps the others
    PROFILES["tiny"] = profile
    try:
        argv = ["--profile", "tiny", "--methods", "NAOMI", "--extra-epochs", "2"]
        assert curve_main([*argv, "--out-dir", str(tmp_path)]) == 0
    finally:
        del PROFILES["tiny"]
    longer = json.loads(curve_path(tmp_path, "tiny", "NAOMI+2", 0).read_text())
    assert longer["method"] == "NAOMI+2" and longer["extra_epochs"] == 2
    assert [r["stage"] for r in longer["epochs"]][3:] == ["free_running"] * 2
    # the same seeds: the first three epochs are those of the run without extra epochs
    assert [r["l2_missing"] for r in longer["epochs"][:3]] == [r["l2_missing"] for r in rows]
    text = (tmp_path / "naomi_curve_tiny.md").read_text()
    assert "| NAOMI |" in text and "| NAOMI+2 |" in text and "| SingleRes |" in text
    assert "| 5 | – |" in text  # NAOMI has no fifth epoch


def test_readout_at_a_checkpointed_profile_reads_the_benchmark_models(tmp_path):
    import pickle

    from benchmarks.naomi_readout import make_variant, run_variant

    # the variants default and singleres are the benchmark's NAOMI and SingleRes
    for variant, name in [("default", "NAOMI"), ("singleres", "SingleRes")]:
        assert make_variant(TINY, variant, 0).get_params() == make_model(name, TINY, 0).get_params()
    profile = replace(TINY, checkpoint=True)
    run(profile, experiments=["imputation"], methods=["NAOMI"], out_dir=tmp_path, log=print)
    path = models_dir(tmp_path, profile) / "NAOMI__seed0.pkl"
    saved = path.read_bytes()
    _, seconds = pickle.loads(saved)
    record = run_variant(profile, "default", 0, tmp_path)
    # read back, not trained again: the checkpoint is untouched and its training time reported
    assert path.read_bytes() == saved
    assert record["fit_seconds"] == seconds
    # another variant trains under its own name, epoch by epoch
    record = run_variant(profile, "tf-33", 0, tmp_path)
    assert (models_dir(tmp_path, profile) / "readout-tf-33__seed0.pkl").exists()
    assert record["variant"] == "tf-33" and record["l2_missing"] > 0


def test_readout_report_keeps_the_variants_of_earlier_runs(tmp_path):
    from benchmarks.naomi_readout import raw_path, stored_records

    for variant, seed in (("singleres", 0), ("default", 1), ("default", 0), ("tf-33", 1)):
        path = raw_path(tmp_path, "tiny", variant, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"variant": variant, "seed": seed}))
    # every variant stored for the profile and seed, in the order of VARIANTS
    assert [r["variant"] for r in stored_records(tmp_path, "tiny", 0)] == ["default", "singleres"]
    # every seed by default, by variant and then seed
    assert [(r["variant"], r["seed"]) for r in stored_records(tmp_path, "tiny")] == [
        ("default", 0),
        ("default", 1),
        ("tf-33", 1),
        ("singleres", 0),
    ]


def test_readout_continued_variant_trains_on_from_its_base(tmp_path):
    from benchmarks.naomi_readout import CONTINUED, fit_variant

    X = make_billiards(n_train=12, n_test=1, n_timesteps=24, random_state=0)[0]
    extra = CONTINUED["singleres+20"][1]
    for profile in (TINY, replace(TINY, checkpoint=True)):
        base, _ = fit_variant(profile, "singleres", 0, X, tmp_path)
        model, seconds = fit_variant(profile, "singleres+20", 0, X, tmp_path)
        assert model.n_epochs_ == base.n_epochs_ + extra == TINY.max_epochs + extra
        assert seconds > 0 and model.n_resolutions == 1
    # checkpointed under its own name, and read back instead of trained again
    models = tmp_path / "raw" / "naomi" / "tiny" / "models"
    assert (models / "readout-singleres+20__seed0.pkl").exists()
    again, _ = fit_variant(replace(TINY, checkpoint=True), "singleres+20", 0, X, tmp_path)
    np.testing.assert_array_equal(
        again.transform(np.where(np.arange(24)[:, None] % 3 == 0, X[:2], np.nan)),
        model.transform(np.where(np.arange(24)[:, None] % 3 == 0, X[:2], np.nan)),
    )
