"""Paper-ready copies of the statistics: Markdown and booktabs LaTeX with captions that say what they hold."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ngbench.stats import best_learning_rates, iteration_counts, ngd_against_baselines


def _number(fmt: str, infinity: str, missing: str):
    def render(x):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return missing
        if isinstance(x, float) and math.isinf(x):
            return infinity
        return fmt.format(x)

    return render


@dataclass(frozen=True)
class TableKind:
    columns: dict[str, tuple[str, str]]  # column → (header, format)
    caption: str  # with {experiment} and {tolerances}
    label: str  # LaTeX label suffix
    optional: tuple[str, ...] = ()  # columns left out of a table where every value is missing


ITERATIONS = TableKind(
    columns={
        "parameterization": ("chart", "{}"),
        "method": ("method", "{}"),
        "lr": ("lr", "{:.4g}"),
        "tolerance": ("tolerance", "{:.0e}"),
        "runs": ("runs", "{:d}"),
        "successes": ("successes", "{:d}"),
        "median_iters": ("median iters", "{:.0f}"),
        "q25_iters": ("q25", "{:.0f}"),
        "q75_iters": ("q75", "{:.0f}"),
        "median_grad_evals": ("grad evals", "{:.0f}"),
        "median_solves": ("solves", "{:.0f}"),
        "median_final_test_log_loss": ("test log-loss", "{:.4f}"),
        "art": ("aRT", "{:.1f}"),
        "art_low": ("aRT 5%", "{:.1f}"),
        "art_high": ("aRT 95%", "{:.1f}"),
    },
    caption=(
        "Iterations to reach gap = loss − f* ≤ tolerance ({tolerances}) in experiment {experiment}. "
        "Median and quartiles over successful runs, and their median cost in gradient evaluations (one "
        "per Monte Carlo sample) and linear solves; where the target has a held-out split, the median "
        "test log-loss of the last iterate over the runs that settled (did not fail, and ended within the "
        "loosest tolerance or with a gap that stopped rising); aRT = iterations of all runs (a run that "
        "never gets there charged the whole budget) / successes, with a 90% bootstrap interval over runs."
    ),
    label="iterations",
    optional=("median_final_test_log_loss",),
)

BEST_LR = TableKind(
    columns={
        "parameterization": ("chart", "{}"),
        "method": ("method", "{}"),
        "learning_rates_tried": ("lrs tried", "{:d}"),
        "best_lr": ("best lr", "{:.4g}"),
        "tuning_art": ("aRT (tuning)", "{:.1f}"),
        "runs": ("runs", "{:d}"),
        "successes": ("successes", "{:d}"),
        "median_iters": ("median iters", "{:.0f}"),
        "art": ("aRT", "{:.1f}"),
    },
    caption=(
        "Best learning rate per chart and method in experiment {experiment} at tolerance {tolerances}: "
        "chosen by smallest aRT on the even-numbered half of the seeds (ties: aRT at each looser "
        "tolerance, then fewest failed runs, then the smaller lr), reported on the other half (runs, "
        "successes, median iterations, aRT)."
    ),
    label="best-lr",
)

PAIRED = TableKind(
    columns={
        "parameterization": ("chart", "{}"),
        "baseline": ("against", "{}"),
        "ngd_lr": ("NGD lr", "{:.4g}"),
        "baseline_lr": ("its lr", "{:.4g}"),
        "pairs": ("pairs", "{:d}"),
        "ngd_faster": ("NGD faster", "{:d}"),
        "baseline_faster": ("it faster", "{:d}"),
        "ties": ("ties", "{:d}"),
        "median_speedup": ("median speed-up", "{:.2f}"),
        "p_value": ("p", "{:.2g}"),
        "p_holm": ("p (Holm)", "{:.2g}"),
    },
    caption=(
        "NGD against every other method of experiment {experiment} on the same seeds (reporting half), "
        "each at its tuned learning rate, iterations to tolerance {tolerances}; a run that never gets "
        "there ranks behind every run that does. Two-sided Wilcoxon signed-rank test, ties dropped, "
        "Holm-corrected over all comparisons of the experiment; speed-up = the other method's iterations / "
        "NGD's over pairs where both succeed."
    ),
    label="paired",
)


def _tolerances(table: pd.DataFrame) -> str:
    return ", ".join(f"{t:.0e}" for t in sorted(set(table["tolerance"]), reverse=True)) if len(table) else "—"


def _rendered(table: pd.DataFrame, kind: TableKind, infinity: str, missing: str) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    for column, (header, fmt) in kind.columns.items():
        if column in kind.optional and (column not in table or table[column].isna().all()):
            continue
        render = _number(fmt, infinity, missing)
        values = [render(x) for x in table[column].tolist()] if column in table else []
        # Strings even without rows: an empty column would otherwise be float, with no `.str`.
        out[header] = pd.Series(values, index=out.index, dtype=object)
    return out


def comparison_note(summaries: pd.DataFrame, experiment: str) -> str:
    """Why the paired comparison of an experiment has no rows ("" when it has some to make)."""
    methods = set(summaries["method"].unique())
    if "ngd" not in methods:
        return (
            f"No comparison: experiment {experiment} has no NGD (its methods: {', '.join(sorted(methods))})."
        )
    if methods == {"ngd"}:
        return f"No comparison: NGD is the only method of experiment {experiment}."
    return ""


def to_markdown(table: pd.DataFrame, experiment: str, kind: TableKind = ITERATIONS, note: str = "") -> str:
    """The table under its caption; a table without rows keeps its header, followed by `note` (why)."""
    caption = kind.caption.format(experiment=experiment, tolerances=_tolerances(table))
    body = _rendered(table, kind, infinity="∞", missing="—").to_markdown(index=False, disable_numparse=True)
    if table.empty:
        body += f"\n\n{note or 'No rows.'}"
    return f"**{caption}**\n\n{body}\n"


def _latex_text(text: str) -> str:
    return (
        text.replace("≤", "$\\le$")
        .replace("−", "-")
        .replace("f*", "$f^*$")
        .replace("%", "\\%")
        .replace("_", "\\_")
    )


def to_latex(table: pd.DataFrame, experiment: str, kind: TableKind = ITERATIONS, note: str = "") -> str:
    """A booktabs table; one without rows keeps its header and says why in a row spanning the columns."""
    rendered = _rendered(table, kind, infinity="$\\infty$", missing="--")
    for column in rendered.columns:
        rendered[column] = rendered[column].str.replace("_", "\\_", regex=False)
    rendered.columns = [c.replace("%", "\\%") for c in rendered.columns]
    caption = _latex_text(kind.caption.format(experiment=experiment, tolerances=_tolerances(table)))
    label = f"tab:{experiment.replace('_', '-')}-{kind.label}"
    column_format = "l" * 2 + "r" * (rendered.shape[1] - 2)
    empty = _latex_text(note or "No rows.") if table.empty else ""
    return booktabs_table(rendered, caption, label, column_format, empty=empty)


def booktabs_table(cells: pd.DataFrame, caption: str, label: str, column_format: str, empty: str = "") -> str:
    """A floating booktabs table of already-escaped cells, laid out as pandas' Styler.to_latex does.

    `empty`, for a table without rows, is set in one row spanning every column.

    Written out here because Styler needs jinja2, whose import alone took longer than the statistics
    of an experiment.
    """
    lines = [
        "\\begin{table}[htbp]",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        f"\\begin{{tabular}}{{{column_format}}}",
        "\\toprule",
        " & ".join(cells.columns) + " \\\\",
        "\\midrule",
        *(" & ".join(row) + " \\\\" for row in cells.itertuples(index=False, name=None)),
        *([f"\\multicolumn{{{cells.shape[1]}}}{{c}}{{{empty}}} \\\\"] if empty else []),
        "\\bottomrule",
        "\\end{tabular}",
        "\\end{table}",
    ]
    return "\n".join(lines) + "\n"


def experiment_tables(
    summaries: pd.DataFrame, experiment: str, tolerance: float
) -> dict[str, dict[str, str]]:
    """An experiment's three statistics as file texts: suffix ("", "_best_lr", "_paired") → csv, md, tex.

    What the workflow's aggregate step writes, and the benchmark's floor with it. A row with NGD
    alone, or without NGD, has no paired comparison to make: its paired table keeps its columns,
    without rows (the csv is header-only), and the Markdown and LaTeX copies say why.
    """
    best = best_learning_rates(summaries, tolerance)
    statistics = {
        "": (iteration_counts(summaries), ITERATIONS, ""),
        "_best_lr": (best, BEST_LR, ""),
        "_paired": (
            ngd_against_baselines(summaries, tolerance, best=best),
            PAIRED,
            comparison_note(summaries, experiment),
        ),
    }
    return {
        suffix: {
            "csv": table.to_csv(index=False),
            "md": to_markdown(table, experiment, kind, note),
            "tex": to_latex(table, experiment, kind, note),
        }
        for suffix, (table, kind, note) in statistics.items()
    }
