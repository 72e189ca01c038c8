"""Performance and data profiles across every problem of a config, on a cost axis the reader chooses.

A *problem* is one (experiment, chart, seed): a start, a target and a chart. Each method solves it
(or not) at its cross-fitted learning rate (`ngbench.stats.tuned_runs`), at the experiment's
smallest tolerance, for a cost in iterations, gradient evaluations (one per Monte Carlo sample) or
linear solves (Fisher, Hessian or surrogate) — the run summaries record all three up to the hit.

- Dolan–Moré performance profile: ρₘ(τ) = fraction of the problems method m was run on whose cost
  is within a factor τ of the cheapest method run on the same problem (a failure never is). A method
  that needs no solve is cheapest per solve whenever it succeeds: a ratio against a cost of 0 is 1
  for a method that also spent 0 and ∞ for one that spent more.
- Moré–Wild data profile: dₘ(α) = fraction of the problems solved within α units of cost.
- Score (as AlgoPerf's): the area under ρₘ between τ = 1 and τ = 4, divided by 3 — 1 for a method
  that is always cheapest, 0 for one never within 4× of the cheapest.

Wall time is a fourth axis (`add_wall_time`), from the solver jobs' timings: a job runs every run of a
(chart, method) cell as one array program and times the cell, so a run's wall time to the tolerance
is apportioned by steps — its iterations times the cell's seconds per run-step. It depends on the
machine and its load, so its profiles go to `results/costs/`, never to the tables held to the
reproducibility contract.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ngbench.stats import tuned_runs

COST_AXES = {"iterations": "hit_iter", "gradient evaluations": "grad_evals", "linear solves": "solves"}
WALL_TIME = "wall time (µs)"  # µs, not s: the data profiles' budgets are whole units of cost
SCORE_LIMIT = 4.0
TAUS = tuple(float(2.0 ** (k / 4)) for k in range(0, 4 * 10 + 1))  # 1 … 1024, four points per octave


def problem_costs(summaries: pd.DataFrame, best: pd.DataFrame, tolerances: dict[str, float]) -> pd.DataFrame:
    """One row per (experiment, chart, seed, method): success at the experiment's tolerance and the
    cost of each axis (NaN where the run never got there)."""
    frames = []
    for experiment, runs in summaries.groupby("experiment", sort=True):
        tolerance = tolerances[experiment]
        at_tolerance = runs[np.isclose(runs["tolerance"], tolerance, rtol=1e-12, atol=0)]
        reported = tuned_runs(at_tolerance, best[best["experiment"] == experiment])
        success = reported["hit_iter"].notna()
        costs = {axis: reported[column].astype(float).where(success) for axis, column in COST_AXES.items()}
        frames.append(
            pd.DataFrame(
                {
                    "experiment": experiment,
                    "parameterization": reported["parameterization"].astype(str),
                    "seed": reported["seed"].astype(int),
                    "method": reported["method"].astype(str),
                    "success": success,
                    **costs,
                }
            )
        )
    columns = ["experiment", "parameterization", "seed", "method", "success", *COST_AXES]
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)[columns]
    return table.sort_values(
        ["experiment", "parameterization", "seed", "method"], kind="mergesort"
    ).reset_index(drop=True)


def add_wall_time(costs: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """`costs` with a WALL_TIME column: each successful run's iterations times its cell's µs per
    run-step (`cells`: experiment, parameterization, method, seconds, run_steps, as the solver jobs'
    timing files give them); NaN where the run failed. A cell without timing is an error, not a gap."""
    keys = ["experiment", "parameterization", "method"]
    per_step = cells.assign(
        per_step=1e6 * cells["seconds"].astype(float) / cells["run_steps"].astype(float).clip(lower=1)
    )[[*keys, "per_step"]]
    merged = costs.merge(per_step, on=keys, how="left", validate="many_to_one")
    untimed = merged["per_step"].isna()
    if untimed.any():
        missing = merged.loc[untimed, keys].drop_duplicates().iloc[0].tolist()
        raise ValueError(f"no timing for the cell {'/'.join(missing)}")
    merged[WALL_TIME] = merged["iterations"] * merged["per_step"]
    return merged.drop(columns="per_step")


def ratios(costs: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Each (problem, method)'s cost over the cheapest success on that problem (∞: failed, or no success)."""
    problem = ["experiment", "parameterization", "seed"]
    cost = costs[axis].to_numpy(dtype=float)
    best = costs.assign(cost=cost).groupby(problem, sort=False)["cost"].transform("min").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(best > 0, cost / best, np.where(cost == 0, 1.0, np.inf))
    ratio = np.where(np.isnan(cost), np.inf, ratio)
    return costs[[*problem, "method"]].assign(ratio=ratio)


def profiles(costs: pd.DataFrame, axes=tuple(COST_AXES)) -> pd.DataFrame:
    """Performance profiles on every cost axis (or those given): (cost, method, tau, fraction)."""
    rows = []
    for axis in axes:
        table = ratios(costs, axis)
        for method, group in table.groupby("method", sort=True):
            r = group["ratio"].to_numpy()
            rows.extend(
                {
                    "cost": axis,
                    "method": method,
                    "tau": tau,
                    "fraction": float((r <= tau * (1 + 1e-12)).mean()),
                }
                for tau in TAUS
            )
    return pd.DataFrame(rows, columns=["cost", "method", "tau", "fraction"])


def data_profiles(costs: pd.DataFrame, axes=tuple(COST_AXES)) -> pd.DataFrame:
    """Data profiles on every cost axis (or those given): (cost, method, budget, fraction solved)."""
    rows = []
    for axis in axes:
        finite = costs[axis].dropna()
        top = max(float(finite.max()), 1.0) if len(finite) else 1.0
        budgets = np.unique(np.concatenate([[0.0], np.ceil(np.geomspace(1.0, top, 60))]))
        for method, group in costs.groupby("method", sort=True):
            spent = group[axis].to_numpy(dtype=float)
            rows.extend(
                {"cost": axis, "method": method, "budget": float(b), "fraction": float(np.mean(spent <= b))}
                for b in budgets
            )
    return pd.DataFrame(rows, columns=["cost", "method", "budget", "fraction"])


def profile_scores(costs: pd.DataFrame, axes=tuple(COST_AXES)) -> pd.DataFrame:
    """Per (cost axis, method): problems run, fraction solved, fraction cheapest, and the score."""
    rows = []
    for axis in axes:
        table = ratios(costs, axis)
        for method, group in table.groupby("method", sort=True):
            r = np.sort(group["ratio"].to_numpy())
            # ∫₁⁴ ρ(τ) dτ exactly: ρ is a step function rising by 1/n at each ratio ≤ 4.
            inside = r[r <= SCORE_LIMIT]
            area = float(np.sum(SCORE_LIMIT - inside)) / len(r) if len(r) else np.nan
            rows.append(
                {
                    "cost": axis,
                    "method": method,
                    "problems": len(r),
                    "solved": float(np.isfinite(r).mean()) if len(r) else np.nan,
                    "cheapest": float((r <= 1 + 1e-12).mean()) if len(r) else np.nan,
                    "score": area / (SCORE_LIMIT - 1.0),
                }
            )
    return pd.DataFrame(rows, columns=["cost", "method", "problems", "solved", "cheapest", "score"])
