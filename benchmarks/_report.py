"""Aggregate raw records into the suite's table, with the papers' numbers beside ours."""

import os
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def paper_results_dir():
    """``$SKIMPUTE_PAPER_RESULTS``, else ``../shared/paper_results`` beside the repository."""
    env = os.environ.get("SKIMPUTE_PAPER_RESULTS")
    return Path(env) if env else REPO.parent / "shared" / "paper_results"


def paper_value(table, dataset, method, directory=None):
    """The paper's number for one cell, or None when the table has no such cell or file."""
    column = table.columns.get(dataset)
    row = table.methods.get(method)
    path = Path(directory or paper_results_dir()) / table.filename
    if column is None or row is None or not path.exists():
        return None
    frame = pd.read_csv(path, comment="#")
    hit = frame.loc[frame["method"] == row, column]
    return float(hit.iloc[0]) * table.scale if len(hit) else None


def summarise(records, suite):
    """One row per (dataset, method): RMSE mean and std over seeds, times, memory, papers."""
    frame = pd.DataFrame.from_records(records)
    if "mask_accuracy" not in frame:
        frame["mask_accuracy"] = None
    frame["mask_accuracy"] = frame["mask_accuracy"].astype(float)
    order = {m: i for i, m in enumerate(dict.fromkeys(frame["method"]))}
    grouped = frame.groupby(["dataset", "method"], sort=False)
    table = grouped.agg(
        n_seeds=("seed", "nunique"),
        rmse_mean=("rmse", "mean"),
        rmse_std=("rmse", lambda s: s.std(ddof=0)),
        mae_mean=("mae", "mean"),
        mask_accuracy=("mask_accuracy", "mean"),
        missing_fraction=("missing_fraction", "mean"),
        fit_seconds=("fit_seconds", "mean"),
        transform_seconds=("transform_seconds", "mean"),
        peak_mb=("peak_mb", "max"),
    ).reset_index()
    for paper in suite.papers:
        table[paper.label] = [
            paper_value(paper, d, m) for d, m in zip(table["dataset"], table["method"])
        ]
    table["_order"] = table["method"].map(order)
    datasets = list(dict.fromkeys(frame["dataset"]))
    table["_dataset"] = table["dataset"].map({d: i for i, d in enumerate(datasets)})
    table = table.sort_values(["_dataset", "_order"]).drop(columns=["_order", "_dataset"])
    return table.reset_index(drop=True)


def _fmt(value, digits=2):
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:.{digits}f}"


def to_markdown(table, suite, profile, machine):
    """The suite's Markdown page: protocol, machine and the table."""
    papers = [p.label for p in suite.papers]
    header = [
        "dataset",
        "method",
        "seeds",
        "RMSE",
        "± std",
        "fit s",
        "transform s",
        "peak MB",
    ]
    show_mask = table["mask_accuracy"].notna().any()
    if show_mask:
        header.append("mask acc")
    header += papers
    lines = [
        f"# Benchmark suite `{suite.name}` (profile `{profile}`)",
        "",
        suite.description,
        "",
        f"Machine: {machine}.",
        "",
        "RMSE: mean over seeds (± population std), on the missing entries only. Times: mean "
        "seconds per seed. Peak MB: largest resident memory above the level before the call. "
        "Paper columns: the number the paper reports for the same method and data (– where it "
        "reports none); from `shared/paper_results`. mask acc: accuracy of the reconstructed "
        "mask (`predict_mask_proba` > 0.5) on the features with missing values, mean over seeds "
        "(a paper column labelled 'mask acc' stands beside it, as a fraction).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in table.to_dict("records"):
        cells = [
            row["dataset"],
            row["method"],
            str(row["n_seeds"]),
            _fmt(row["rmse_mean"], 3),
            _fmt(row["rmse_std"], 3),
            _fmt(row["fit_seconds"], 2),
            _fmt(row["transform_seconds"], 3),
            _fmt(row["peak_mb"], 1),
        ]
        if show_mask:
            cells.append(_fmt(row["mask_accuracy"], 3))
        cells += [_fmt(row.get(p)) for p in papers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(records, suite, profile, machine, out_dir):
    """Write ``NAME.md`` and ``NAME.csv`` into ``out_dir``; return the Markdown text."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = summarise(records, suite)
    table.to_csv(out_dir / f"{suite.name}.csv", index=False, float_format="%.6g")
    text = to_markdown(table, suite, profile, machine)
    (out_dir / f"{suite.name}.md").write_text(text)
    return text
