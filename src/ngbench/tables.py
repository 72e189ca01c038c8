"""Paper-ready copies of the iteration-count statistics: Markdown and booktabs LaTeX."""

from __future__ import annotations

import math

import pandas as pd

HEADERS = {
    "parameterization": "chart",
    "method": "method",
    "lr": "lr",
    "tolerance": "tolerance",
    "runs": "runs",
    "successes": "successes",
    "success_rate": "success rate",
    "median_iters": "median iters",
    "art": "aRT",
}


def _format(stats: pd.DataFrame, infinity: str, missing: str) -> pd.DataFrame:
    def number(fmt):
        def render(x):
            if isinstance(x, float) and math.isnan(x):
                return missing
            if isinstance(x, float) and math.isinf(x):
                return infinity
            return fmt.format(x)

        return render

    formats = {
        "lr": number("{:.4g}"),
        "tolerance": number("{:.0e}"),
        "runs": number("{:d}"),
        "successes": number("{:d}"),
        "success_rate": number("{:.2f}"),
        "median_iters": number("{:.0f}"),
        "art": number("{:.1f}"),
    }
    table = stats[list(HEADERS)].copy()
    for column, render in formats.items():
        table[column] = [render(x) for x in table[column].tolist()]
    return table.rename(columns=HEADERS)


def caption(experiment: str, tolerances) -> str:
    tol = ", ".join(f"{t:.0e}" for t in sorted(set(tolerances), reverse=True))
    return (
        f"Iterations to reach gap = loss − f* ≤ tolerance ({tol}) in experiment {experiment}. "
        "Median over successful runs; aRT = iterations of all runs (failures until they stopped) / successes."
    )


def to_markdown(stats: pd.DataFrame, experiment: str) -> str:
    body = _format(stats, infinity="∞", missing="—").to_markdown(index=False, disable_numparse=True)
    return f"**{caption(experiment, stats['tolerance'])}**\n\n{body}\n"


def to_latex(stats: pd.DataFrame, experiment: str) -> str:
    table = _format(stats, infinity="$\\infty$", missing="--")
    for column in ("chart", "method"):
        table[column] = table[column].str.replace("_", "\\_", regex=False)
    label = experiment.replace("_", "-")
    text = (
        caption(experiment, stats["tolerance"])
        .replace("≤", "$\\le$")
        .replace("−", "-")
        .replace("f*", "$f^*$")
    )
    return table.style.hide(axis="index").to_latex(
        hrules=True,
        column_format="ll" + "r" * (table.shape[1] - 2),
        caption=text.replace("_", "\\_"),
        label=f"tab:{label}-iterations",
        position="htbp",
        environment="table",
    )
