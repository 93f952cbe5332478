"""Figures from the raw benchmark results.

``python -m benchmarks.plots`` draws, from the raw files under ``results/raw/``:

- ``results/gnr_alpha.png``: GNR's RMSE against ``alpha`` for each dataset (the GNR paper's
  Figure 6), from the ``gnr_alpha`` suite.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from benchmarks._runner import RESULTS_DIR

_ALPHA = re.compile(r"^GNR(?:_alpha(?P<alpha>[0-9.]+))?$")


def method_alpha(method):
    """The ``alpha`` of a GNR method name (``"GNR"`` is 1), or None for other methods."""
    match = _ALPHA.match(method)
    if match is None:
        return None
    return float(match["alpha"]) if match["alpha"] else 1.0


def alpha_curves(raw_dir):
    """``{dataset: {alpha: [rmse per seed]}}`` from the raw records of a suite folder."""
    curves = {}
    for path in sorted(Path(raw_dir).glob("*/*.json")):
        record = json.loads(path.read_text())
        alpha = method_alpha(record["method"])
        if alpha is not None:
            curves.setdefault(record["dataset"], {}).setdefault(alpha, []).append(record["rmse"])
    return curves


def plot_alpha(out_dir=RESULTS_DIR, suite="gnr_alpha"):
    """Draw RMSE against alpha (log scale), one line per dataset; return the figure's path.

    Each point is the mean over the seeds found, with their range as an error bar.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    curves = alpha_curves(Path(out_dir) / "raw" / suite)
    if not curves:
        raise FileNotFoundError(f"no raw GNR results under {Path(out_dir) / 'raw' / suite}")
    fig, ax = plt.subplots(figsize=(8, 4))
    for dataset, by_alpha in sorted(curves.items()):
        alphas = sorted(by_alpha)
        means = np.array([np.mean(by_alpha[a]) for a in alphas])
        low = means - np.array([np.min(by_alpha[a]) for a in alphas])
        high = np.array([np.max(by_alpha[a]) for a in alphas]) - means
        n = min(len(by_alpha[a]) for a in alphas)
        ax.errorbar(
            alphas, means, yerr=[low, high], marker="o", capsize=3, label=f"{dataset} ({n})"
        )
    ax.set_xscale("log")
    ax.set_xlabel("alpha (exponent of the mask likelihood)")
    ax.set_ylabel("RMSE on the missing entries")
    ax.set_title("GNR: RMSE against alpha (seeds in brackets)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # off the curves
    fig.tight_layout()
    path = Path(out_dir) / f"{suite}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plots", description=__doc__)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    print(plot_alpha(args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
