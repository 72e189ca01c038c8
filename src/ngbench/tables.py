"""Paper-ready copies of the statistics: Markdown and booktabs LaTeX with captions that say what they hold."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ngbench import __version__, portable
from ngbench.headline import experiment_claims
from ngbench.stats import DEFAULT_TUNING_RULE, best_learning_rates, iteration_counts, ngd_against_baselines


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
    # An interval bound that is missing although its estimate (the value) exists: too few values
    # for an interval at its level, which the table says in words rather than with a dash.
    estimates: tuple[tuple[str, str], ...] = ()  # (bound column, estimate column)


TOO_SMALL = "n too small"


ITERATIONS = TableKind(
    columns={
        "parameterization": ("chart", "{}"),
        "method": ("method", "{}"),
        "lr": ("lr", "{:.4g}"),
        "tolerance": ("tolerance", "{:.0e}"),
        "runs": ("runs", "{:d}"),
        "successes": ("successes", "{:d}"),
        "success_low": ("rate 5%", "{:.2f}"),
        "success_high": ("rate 95%", "{:.2f}"),
        "median_iters": ("median iters", "{:.0f}"),
        "median_iters_low": ("median 5%", "{:.0f}"),
        "median_iters_high": ("median 95%", "{:.0f}"),
        "q25_iters": ("q25", "{:.0f}"),
        "q75_iters": ("q75", "{:.0f}"),
        "median_grad_evals": ("grad evals", "{:.0f}"),
        "median_solves": ("solves", "{:.0f}"),
        "median_final_test_log_loss": ("test log-loss", "{:.4f}"),
        "art": ("aRT", "{:.1f}"),
    },
    caption=(
        "Iterations to reach gap = loss − f* ≤ tolerance ({tolerances}) in experiment {experiment}. "
        "Runs and successes, with a 90% Clopper–Pearson interval for the success probability (rate "
        "5%–95%); median and quartiles of the iterations of successful runs, with a 90% order-statistic "
        "interval for the median (n too small: fewer than 5 successes), and their median cost in gradient "
        "evaluations (one per Monte Carlo sample) and linear solves; where the target has a held-out "
        "split, the median test log-loss of the last iterate over the runs that settled (did not fail, and "
        "ended within the loosest tolerance or with a gap that stopped rising); aRT = iterations of all "
        "runs (a run that never gets there charged the whole budget) / successes."
    ),
    label="iterations",
    optional=("median_final_test_log_loss",),
    estimates=(("median_iters_low", "median_iters"), ("median_iters_high", "median_iters")),
)

BEST_LR = TableKind(
    columns={
        "parameterization": ("chart", "{}"),
        "method": ("method", "{}"),
        "fold": ("tuned on", "{}"),
        "learning_rates_tried": ("lrs tried", "{:d}"),
        "best_lr": ("best lr", "{:.4g}"),
        "tuning_seeds": ("tuning runs", "{:d}"),
        "tuning_successes": ("tuning successes", "{:d}"),
        "tuning_art": ("aRT (tuning)", "{:.1f}"),
        "runs": ("runs", "{:d}"),
        "successes": ("successes", "{:d}"),
        "median_iters": ("median iters", "{:.0f}"),
        "art": ("aRT", "{:.1f}"),
    },
    caption=(
        "Best learning rate per chart and method in experiment {experiment} at tolerance {tolerances}, "
        "cross-fitted: chosen on the even-valued seeds and reported on the odd ones (tuned on: even), "
        "and the other way round (odd); all: every seed has one parity, nothing is held out. {rule} "
        "Reported on the other fold: runs, successes, median iterations, aRT (failures charged the "
        "whole budget)."
    ),
    label="best-lr",
)

SLOPES = TableKind(
    columns={
        "parameterization": ("chart", "{}"),
        "method": ("method", "{}"),
        "values_with_successes": ("values reached", "{:d}"),
        "successful_runs": ("runs reached", "{:d}"),
        "slope": ("slope", "{:.2f}"),
        "slope_low": ("5%", "{:.2f}"),
        "slope_high": ("95%", "{:.2f}"),
        "theory_slope": ("theory", "{:.0f}"),
    },
    caption=(
        "How the cost grows with the swept property in {experiment}: the Theil–Sen slope of "
        "log(iterations to gap ≤ {tolerances}) against log(value) over every successful run, each seed "
        "at its cross-fitted learning rate, with its 90% interval (Sen); values reached: swept values "
        "where the method succeeded at least once (a slope needs 3). Slope 1: cost proportional to the "
        "property; 0: independent of it. Theory: the slope theory gives where it gives one (ngbench.theory: "
        "1 for GD on a quadratic over κ, 2 for GD in (μ, Σ) on the Gaussian KL near its optimum, 0 for a "
        "one-step method), — where it gives none."
    ),
    label="slopes",
    estimates=(("slope_low", "slope"), ("slope_high", "slope")),
)

INVARIANCE_SLOPES = TableKind(
    columns={
        "method": ("method", "{}"),
        "charts": ("charts", "{:d}"),
        "points": ("ρ values fitted", "{:d}"),
        "slope": ("slope", "{:.2f}"),
        "slope_low": ("5%", "{:.2f}"),
        "slope_high": ("95%", "{:.2f}"),
    },
    caption=(
        "Invariance audit of {experiment}: one step of each method from the same start in every chart, "
        "the largest distance between the charts' end points (the spread), and the Theil–Sen slope of "
        "log(spread) against log(ρ) over ρ from 1e-5 to 1e-2, with its 90% interval (Sen). Slope 2: "
        "invariant to first order (Martens 2020); 1: not invariant; — : every spread at rounding level "
        "(an exactly invariant step) or fewer than 3."
    ),
    label="invariance",
    estimates=(("slope_low", "slope"), ("slope_high", "slope")),
)

PROFILE_SCORES = TableKind(
    columns={
        "cost": ("cost", "{}"),
        "method": ("method", "{}"),
        "problems": ("problems", "{:d}"),
        "solved": ("solved", "{:.2f}"),
        "cheapest": ("cheapest", "{:.2f}"),
        "score": ("score (τ ≤ 4)", "{:.3f}"),
    },
    caption=(
        "Every method across the problems of {experiment} (a problem: one experiment, chart and seed; "
        "each method at its cross-fitted learning rate and its experiment's smallest tolerance): the "
        "fraction it solves, the fraction where it is cheapest on that cost axis, and the area under its "
        "Dolan–Moré performance profile from τ = 1 to 4, divided by 3 (1: always cheapest; 0: never "
        "within 4× of the cheapest)."
    ),
    label="profile-scores",
)

RULE_TEXT = {
    "success_first": (
        "Rule success_first: the most successes on the tuning seeds, every lr within 10% of the runs of "
        "the best count tied, then the smallest aRT; ties: aRT at each looser tolerance, then fewest "
        "failed runs, then the smaller lr."
    ),
    "art": (
        "Rule art: the smallest aRT on the tuning seeds; ties: aRT at each looser tolerance, then fewest "
        "failed runs, then the smaller lr."
    ),
}

PAIRED = TableKind(
    columns={
        "parameterization": ("chart", "{}"),
        "baseline": ("against", "{}"),
        "ngd_lr": ("NGD lr", "{}"),
        "baseline_lr": ("its lr", "{}"),
        "pairs": ("pairs", "{:d}"),
        "ngd_successes": ("NGD ok", "{:d}"),
        "baseline_successes": ("it ok", "{:d}"),
        "ngd_faster": ("NGD faster", "{:d}"),
        "baseline_faster": ("it faster", "{:d}"),
        "ties": ("ties", "{:d}"),
        "speedup": ("speed-up", "{:.3g}"),
        "speedup_low": ("5%", "{:.3g}"),
        "speedup_high": ("95%", "{:.3g}"),
        "p_success": ("p (ok)", "{:.2g}"),
        "p_fixed_lr": ("p (fixed lr)", "{:.2g}"),
        "p_value": ("p", "{:.2g}"),
        "p_holm": ("p (Holm)", "{:.2g}"),
        "min_attainable_p": ("min p", "{:.2g}"),
    },
    caption=(
        "NGD against every other method of experiment {experiment}, seed by seed, each seed at the "
        "learning rates tuned on the other fold (two lrs: tuned on the even / the odd seeds), iterations "
        "to tolerance {tolerances}. ok: runs that get there. Faster: a run that gets there beats one that "
        "does not. Statistic: signed ranks of the log speed-up, a pair where only one method succeeds "
        "ranked above every pair where both do, ties dropped. p: two-sided, its null distribution from "
        "swapping the two methods' whole learning-rate sweeps seed by seed and tuning again (every swap "
        "pattern, or 1,999 random ones), so the luck of tuning is in it; p (Holm): corrected over all "
        "comparisons of the experiment; min p: the smallest p the test could give with these seeds. "
        "p (fixed lr): the exact signed-rank test with the tuned learning rates held fixed. p (ok): exact "
        "sign test on the pairs where only one succeeds. Speed-up: the other method's iterations / NGD's, "
        "the Hodges–Lehmann estimate over pairs where both succeed, with its 90% interval for symmetric "
        "differences (n too small: fewer than 5 such pairs)."
    ),
    label="paired",
    estimates=(("speedup_low", "speedup"), ("speedup_high", "speedup")),
)


def _tolerances(table: pd.DataFrame) -> str:
    if "tolerance" not in table or not len(table):
        return "—"
    return ", ".join(f"{t:.0e}" for t in sorted(set(table["tolerance"]), reverse=True))


def _rendered(table: pd.DataFrame, kind: TableKind, infinity: str, missing: str) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    estimates = dict(kind.estimates)
    for column, (header, fmt) in kind.columns.items():
        if column in kind.optional and (column not in table or table[column].isna().all()):
            continue
        render = _number(fmt, infinity, missing)
        values = [render(x) for x in table[column].tolist()] if column in table else []
        if column in estimates and column in table:
            values = [
                TOO_SMALL if text == missing and not pd.isna(estimate) else text
                for text, estimate in zip(values, table[estimates[column]].tolist(), strict=True)
            ]
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


def _caption(table: pd.DataFrame, experiment: str, kind: TableKind) -> str:
    rules = sorted(set(table["tuning_rule"])) if "tuning_rule" in table and len(table) else []
    rule = " ".join(RULE_TEXT[r] for r in rules) or RULE_TEXT[DEFAULT_TUNING_RULE]
    return kind.caption.format(experiment=experiment, tolerances=_tolerances(table), rule=rule)


def to_markdown(table: pd.DataFrame, experiment: str, kind: TableKind = ITERATIONS, note: str = "") -> str:
    """The table under its caption; a table without rows keeps its header, followed by `note` (why)."""
    caption = _caption(table, experiment, kind)
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


def to_latex(
    table: pd.DataFrame, experiment: str, kind: TableKind = ITERATIONS, note: str = "", source: str = ""
) -> str:
    """A booktabs table; one without rows keeps its header and says why in a row spanning the columns.

    Its first line, a LaTeX comment, names the ngbench release and the config row (`source`, by
    default `experiments.<experiment>`) that made it, so a table found in a draft can be traced back
    and regenerated. The release, not the commit: a commit id would change every table on every
    commit.
    """
    rendered = _rendered(table, kind, infinity="$\\infty$", missing="--")
    for column in rendered.columns:
        rendered[column] = rendered[column].str.replace("_", "\\_", regex=False)
    rendered.columns = [c.replace("%", "\\%") for c in rendered.columns]
    caption = _latex_text(_caption(table, experiment, kind))
    label = f"tab:{experiment.replace('_', '-')}-{kind.label}"
    column_format = "l" * 2 + "r" * (rendered.shape[1] - 2)
    empty = _latex_text(note or "No rows.") if table.empty else ""
    origin = f"% made by ngbench {__version__} from config row {source or 'experiments.' + experiment}\n"
    return origin + booktabs_table(rendered, caption, label, column_format, empty=empty)


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


def with_speedups(paired: pd.DataFrame) -> pd.DataFrame:
    """The paired table with its Hodges–Lehmann log speed-ups as factors, for reading."""
    factors = {
        name: portable.exp(paired[column].to_numpy(dtype=float)) if len(paired) else []
        for name, column in (
            ("speedup", "log_speedup"),
            ("speedup_low", "log_speedup_low"),
            ("speedup_high", "log_speedup_high"),
        )
    }
    return paired.assign(**{name: np.asarray(values, dtype=float) for name, values in factors.items()})


def experiment_tables(
    summaries: pd.DataFrame, experiment: str, tolerance: float, rule: str = DEFAULT_TUNING_RULE
) -> dict[str, dict[str, str]]:
    """An experiment's three statistics as file texts: suffix ("", "_best_lr", "_paired") → csv, md, tex;
    and "_claims" → md, its results in words (`ngbench.headline`).

    What the workflow's aggregate step writes, and the benchmark's floor with it. A row with NGD
    alone, or without NGD, has no paired comparison to make: its paired table keeps its columns,
    without rows (the csv is header-only), and the Markdown and LaTeX copies say why.
    """
    best = best_learning_rates(summaries, tolerance, rule)
    paired = ngd_against_baselines(summaries, tolerance, best=best)
    statistics = {
        "": (iteration_counts(summaries), None, ITERATIONS, ""),
        "_best_lr": (best, None, BEST_LR, ""),
        "_paired": (paired, with_speedups(paired), PAIRED, comparison_note(summaries, experiment)),
    }
    texts = {
        suffix: {
            "csv": table.to_csv(index=False),
            "md": to_markdown(shown if shown is not None else table, experiment, kind, note),
            "tex": to_latex(shown if shown is not None else table, experiment, kind, note),
        }
        for suffix, (table, shown, kind, note) in statistics.items()
    }
    texts["_claims"] = {"md": experiment_claims(experiment, summaries, best, paired, tolerance)}
    return texts
