"""The result sentences of the README, written from the tables so that no claim can contradict them.

`experiment_claims` turns one experiment's tuned runs and paired tests into a short Markdown section:
a chart × method table of iterations at the tuned learning rates, then one line per verdict (NGD
significantly faster, the other method significantly faster, no significant difference, cannot be
significant with this many pairs). `headline` joins the sections of a config's experiments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ngbench import portable
from ngbench.methods import method_named, ordered
from ngbench.stats import tuned_runs

SIGNIFICANCE = 0.05


def _label(method: str) -> str:
    """The method's display name (a variant's names its settings)."""
    try:
        return method_named(method).label
    except ValueError:  # a name no method of this library has (hand-made tables)
        return method


def iterations_at_tuned_lr(summaries: pd.DataFrame, best: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """chart × method: "median iterations (successes/runs)" over every seed at its tuned lr."""
    at_tolerance = summaries[np.isclose(summaries["tolerance"], tolerance, rtol=1e-12, atol=0)]
    reported = tuned_runs(at_tolerance, best)
    cells = {}
    for (chart, method), runs in reported.groupby(["parameterization", "method"], sort=True):
        hits = runs["hit_iter"].dropna().to_numpy(dtype=float)
        median = f"{np.median(hits):.0f}" if hits.size else "—"
        cells.setdefault(chart, {})[_label(method)] = f"{median} ({hits.size}/{len(runs)})"
    table = pd.DataFrame.from_dict(cells, orient="index").rename_axis("chart").fillna("")
    order = [_label(m) for m in ordered(reported["method"].unique()) if _label(m) in table.columns]
    return table[order]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _speedup(row) -> str:
    if math.isnan(row["log_speedup"]):
        return "no pair where both succeed"
    factor = float(portable.exp(np.array(row["log_speedup"])))
    if math.isnan(row["log_speedup_low"]):
        return f"speed-up {factor:.3g} (too few pairs where both succeed for an interval)"
    low, high = (float(portable.exp(np.array(row[c]))) for c in ("log_speedup_low", "log_speedup_high"))
    return f"speed-up {factor:.3g}, 90% CI {low:.3g}–{high:.3g}"


def _evidence(row) -> str:
    baseline = _label(row["baseline"])
    if math.isnan(row["p_value"]):
        successes = f"{row['ngd_successes']} vs {row['baseline_successes']} of {row['pairs']}"
        return f"{row['parameterization']} (successes {successes})"
    return (
        f"{row['parameterization']} (NGD faster in {row['ngd_faster']}, {baseline} in "
        f"{row['baseline_faster']} of {_count(row['pairs'], 'pair')}; successes {row['ngd_successes']} vs "
        f"{row['baseline_successes']}; {_speedup(row)}; Holm p = {row['p_holm']:.2g})"
    )


def experiment_claims(
    experiment: str, summaries: pd.DataFrame, best: pd.DataFrame, paired: pd.DataFrame, tolerance: float
) -> str:
    """One experiment's results in words and one small table, every number from the tables."""
    seeds = summaries["seed"].nunique()
    rules = ", ".join(sorted(set(best["tuning_rule"]))) if "tuning_rule" in best else ""
    lines = [
        f"**{experiment}** — gap ≤ {tolerance:.0e}, {_count(seeds, 'seed')}, "
        + (
            "each at the learning rate tuned without it"
            if "fold" in best and set(best["fold"]) != {"all"}
            else "tuned and reported on the same seeds (one parity: nothing held out)"
        )
        + f" (rule {rules}). Median iterations of successful runs (successes/runs):",
        "",
        iterations_at_tuned_lr(summaries, best, tolerance).to_markdown(disable_numparse=True),
        "",
    ]
    if paired.empty:
        lines.append("- No paired comparison: the row does not run NGD and another method.")
        return "\n".join(lines) + "\n"
    for baseline, rows in paired.groupby("baseline", sort=False):
        name = _label(baseline)
        reachable = rows["min_attainable_p"] * len(paired) < SIGNIFICANCE
        significant = rows["p_holm"] < SIGNIFICANCE
        untestable = rows["p_value"].isna()  # every pair tied: both failed, or equal iterations
        reachable &= ~untestable
        verdicts = [
            (
                f"NGD significantly faster than {name} (Holm p < {SIGNIFICANCE:g})",
                significant & (rows["favours"] == "ngd"),
            ),
            (f"{name} significantly faster than NGD", significant & (rows["favours"] == baseline)),
            (f"No significant difference between NGD and {name}", ~significant & reachable),
            (
                f"NGD against {name} cannot reach significance with {_count(rows['pairs'].max(), 'pair')} "
                f"(smallest p after Holm: {min(1.0, rows['min_attainable_p'].min() * len(paired)):.2g})",
                ~significant & ~reachable & ~untestable,
            ),
            (f"Every pair of NGD and {name} tied (nothing to test)", untestable),
        ]
        for verdict, chosen in verdicts:
            if chosen.any():
                lines.append(
                    f"- {verdict}: " + "; ".join(_evidence(row) for _, row in rows[chosen].iterrows()) + "."
                )
    return "\n".join(lines) + "\n"


def headline(sections: list[str]) -> str:
    """The README's results block: every experiment's claims, by experiment name."""
    preamble = (
        "Generated by the pipeline (`results/tables/headline.md`) from `results/stats/`: every number "
        "below is in those tables. Each row at its smallest tolerance; where a row's seeds have both "
        "parities, every seed runs at the learning rate tuned on the seeds of the other parity; NGD is "
        "compared with each other method seed by seed (censored signed-rank statistic, its null "
        "distribution from swapping the two methods' learning-rate sweeps and tuning again), "
        f"significant where its Holm-corrected p < {SIGNIFICANCE:g} "
        "over the comparisons of the row; speed-up = the other method's iterations / NGD's "
        "(Hodges–Lehmann, over pairs where both succeed).\n"
    )
    return "\n".join([preamble, *sections])
