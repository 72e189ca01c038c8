"""Mutation check: does the suite catch realistic one-line mistakes in the layers beyond the maths?

Each mutation is a text substitution in one file of the library or the workflow, written as the kind
of mistake that changes a published number without breaking anything loudly (issue 19). For each
one, the script copies the checkout to a temporary directory, asserts the pattern occurs exactly once
there, applies it, runs the mutation's test files with pytest (`-x`, a timeout), and counts the mutant
caught if a test fails. The checkout itself is never edited, so an interrupted run leaves no mutant
behind. It takes ~10 minutes on two cores: run it before a release, not in CI.

    python benchmarks/mutation_check.py              # every mutation; prints caught/missed per layer
    python benchmarks/mutation_check.py --list       # the mutations, without running anything
    python benchmarks/mutation_check.py -k runner    # those whose name contains "runner"
    python benchmarks/mutation_check.py --holdout    # only those written after the tests (HOLDOUT)
    python benchmarks/mutation_check.py --tests-from 3fd54dc   # the same mutants against older tests

The statistics (stats.py, inference.py, profiles.py) have their own block of mutants; tables.py (rendering)
is not mutated.
`tests/test_workflow.py` (Snakemake end to end, minutes per run) is not in any mutation's test set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIPPED = (".git", ".venv", ".snakemake", ".pytest_cache", ".ruff_cache", "logs")


@dataclass(frozen=True)
class Mutation:
    name: str
    layer: str
    path: str
    pattern: str
    replacement: str
    tests: tuple[str, ...]
    equivalent: str = ""  # why no test can tell the mutant from the original (left out of the score)
    holdout: bool = False  # written after the tests, and run against them unchanged: see HOLDOUT


RUNNER_TESTS = ("test_runner_invariants.py", "test_runner.py", "test_faults.py", "test_methods.py")
METHOD_TESTS = ("test_methods.py", "test_runner_invariants.py", "test_mixture.py", "test_faults.py")
SOLVE_TESTS = ("test_summaries.py", "test_io.py", "test_runner.py", "test_methods.py", "test_stats.py")
IO_TESTS = ("test_summaries.py", "test_io.py", "test_stats.py")
PLUMBING_TESTS = ("test_plumbing.py", "test_config.py", "test_digests.py")
START_TESTS = ("test_starts.py", "test_config.py", "test_runner.py", "test_gaussian_nd.py")

RUNNER, METHODS, SOLVE = "src/ngbench/runner.py", "src/ngbench/methods.py", "src/ngbench/solve.py"
IO, EXPERIMENTS, STARTS = "src/ngbench/io.py", "src/ngbench/experiments.py", "src/ngbench/starts.py"
JOBS = "src/ngbench/jobs.py"
SOLVE_RULES = "workflow/rules/solve.smk"

MUTATIONS = [
    # --- runner ---------------------------------------------------------------------------------
    Mutation(
        "runner: divergence limit without max(1, ·), tiny next to f*",
        "runner",
        RUNNER,
        "gap_limit = divergence_factor * np.maximum(1.0, loss - f_star)",
        "gap_limit = divergence_factor * (loss - f_star)",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: divergence limit recomputed every step",
        "runner",
        RUNNER,
        "if t == 0:\n                gap_limit",
        "if True:\n                gap_limit",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: divergence judged on the loss, not the gap",
        "runner",
        RUNNER,
        "exploding = record & (gap_now > gap_limit)",
        "exploding = record & (loss > gap_limit)",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: compaction keeps the first rows' learning rates",
        "runner",
        RUNNER,
        "rates, gap_limit = rates[keep], gap_limit[keep]",
        "rates, gap_limit = rates[: keep.sum()], gap_limit[keep]",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: compaction keeps the first rows' gap limits",
        "runner",
        RUNNER,
        "rates, gap_limit = rates[keep], gap_limit[keep]",
        "rates, gap_limit = rates[keep], gap_limit[: keep.sum()]",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: a failed step keeps the first rows' learning rates",
        "runner",
        RUNNER,
        "rates[going], gap_limit[going]",
        "rates[: going.sum()], gap_limit[going]",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: converged judged on the final gap",
        "runner",
        RUNNER,
        "reached = (gap <= converged_gap).any(axis=0)",
        "reached = gap[-1] <= converged_gap",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: failed runs that reached the tolerance called converged",
        "runner",
        RUNNER,
        'status[(status == "budget") & reached] = "converged"',
        'status[reached] = "converged"',
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: a state outside the domain called diverged",
        "runner",
        RUNNER,
        'status[active[finite & ~inside]] = "invalid"',
        'status[active[finite & ~inside]] = "diverged"',
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: stop_iter one early",
        "runner",
        RUNNER,
        "stop_iter[active[~record | exploding]] = t",
        "stop_iter[active[~record | exploding]] = t - 1",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: the row where a run exploded is not kept",
        "runner",
        RUNNER,
        "losses[t, active[record]] = loss[record]",
        "losses[t, active[keep]] = loss[keep]",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: first hit one iteration late",
        "runner",
        RUNNER,
        "hits[i, reached] = below[:, reached].argmax(axis=0)",
        "hits[i, reached] = below[:, reached].argmax(axis=0) + 1",
        RUNNER_TESTS + ("test_summaries.py",),
    ),
    Mutation(
        "runner: states outside the domain recorded",
        "runner",
        RUNNER,
        "record = finite & inside & np.isfinite(loss)",
        "record = finite & np.isfinite(loss)",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: Monte Carlo generators compacted by position, not by run",
        "runner",
        METHODS,
        "self.rngs = [rng for rng, kept in zip(self.rngs, rows, strict=True) if kept]",
        "self.rngs = self.rngs[: int(rows.sum())]",
        RUNNER_TESTS + ("test_gaussian_nd.py",),
    ),
    Mutation(
        "runner: a run whose step raised stops one iteration late",
        "runner",
        RUNNER,
        "stop_iter[active[failed]] = t",
        "stop_iter[active[failed]] = t + 1",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: an exploding run stops without being called diverged",
        "runner",
        RUNNER,
        'status[active[~finite | (inside & ~np.isfinite(loss)) | exploding]] = "diverged"',
        'status[active[~finite | (inside & ~np.isfinite(loss))]] = "diverged"',
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: the step's iteration number never advances (Adam's bias correction)",
        "runner",
        RUNNER,
        "context.iteration = t",
        "context.iteration = 0",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: f* of the target's family, not of the chart's",
        "runner",
        RUNNER,
        "    f_star = target.optimum_loss_for(chart)\n    observed_count",
        "    f_star = target.optimum_loss\n    observed_count",
        RUNNER_TESTS + ("test_gaussian_nd.py", "test_summaries.py"),
    ),
    # --- methods --------------------------------------------------------------------------------
    Mutation(
        "methods: Adam's β₂ = 0.99",
        "methods",
        METHODS,
        '"beta2": _unit("the second moment\'s decay β₂", 0.999),',
        '"beta2": _unit("the second moment\'s decay β₂", 0.99),',
        METHOD_TESTS,
    ),
    Mutation(
        "methods: Adam's ε = 1e-6",
        "methods",
        METHODS,
        'Hyperparameter(1e-8, 0.0, np.inf, low_open=True, meaning="Adam\'s ε")',
        'Hyperparameter(1e-6, 0.0, np.inf, low_open=True, meaning="Adam\'s ε")',
        METHOD_TESTS,
    ),
    Mutation(
        "methods: Adam's ε inside the square root",
        "methods",
        METHODS,
        '    np.sqrt(step, out=step)\n    step += settings["epsilon"]\n',
        '    step += settings["epsilon"]\n    np.sqrt(step, out=step)\n',
        METHOD_TESTS,
    ),
    Mutation(
        "methods: Adam without the second moment's bias correction",
        "methods",
        METHODS,
        "step = np.divide(second, 1.0 - portable.integer_power(beta2, t + 1))",
        "step = np.divide(second, 1.0)",
        METHOD_TESTS,
    ),
    Mutation(
        "methods: Adam's bias correction one step behind",
        "methods",
        METHODS,
        "np.divide(first, 1.0 - portable.integer_power(beta1, t + 1), out=scratch)",
        "np.divide(first, 1.0 - portable.integer_power(beta1, t), out=scratch)",
        METHOD_TESTS,
    ),
    Mutation(
        "methods: ef counted as no solve",
        "methods",
        METHODS,
        '"empirical_fisher",\n            label="EF",\n            long_name="EF (empirical Fisher)",\n'
        '            style=_style(2, "^", (0, (5, 1.5, 1, 1.5))),\n            solves_per_step=1,',
        '"empirical_fisher",\n            label="EF",\n            long_name="EF (empirical Fisher)",\n'
        '            style=_style(2, "^", (0, (5, 1.5, 1, 1.5))),\n            solves_per_step=0,',
        METHOD_TESTS,
    ),
    Mutation(
        "methods: damping added to every entry, not the diagonal",
        "methods",
        "src/ngbench/targets/mixture.py",
        "return metric + self.damping * np.eye(2)",
        "return metric + self.damping * np.ones((2, 2))",
        METHOD_TESTS,
    ),
    Mutation(
        "methods: the row's damping not read from its spec",
        "methods",
        "src/ngbench/targets/mixture.py",
        'spec["data_seed"], spec["damping"])',
        'spec["data_seed"], 0.0)',
        METHOD_TESTS,
    ),
    Mutation(
        "methods: em steps with the Fisher instead of the complete-data Fisher",
        "methods",
        METHODS,
        '"complete_data_fisher": complete_data_gradient,',
        '"complete_data_fisher": natural_gradient,',
        METHOD_TESTS,
    ),
    # --- solve ----------------------------------------------------------------------------------
    Mutation(
        "solve: final_gap from the history's last row (NaN for stopped runs)",
        "solve",
        SOLVE,
        "final_gap = np.where(last >= 0, gap[np.maximum(last, 0), np.arange(n_runs)], np.nan)",
        "final_gap = gap[-1]",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: converged at the loosest tolerance",
        "solve",
        SOLVE,
        "converged_gap=min(tolerances)",
        "converged_gap=max(tolerances)",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: thin not passed to the trajectory table",
        "solve",
        SOLVE,
        "target.observed_columns, job.thin",
        "target.observed_columns, None",
        SOLVE_TESTS + ("test_plumbing.py",),
    ),
    Mutation(
        "solve: divergence_factor not passed to the runner",
        "solve",
        SOLVE,
        "        divergence_factor=job.divergence_factor,\n",
        "",
        SOLVE_TESTS + ("test_faults.py",),
    ),
    Mutation(
        "solve: a hit at iteration 0 recorded as none",
        "solve",
        SOLVE,
        "numeric_column(hit, valid=hit >= 0)",
        "numeric_column(hit, valid=hit > 0)",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: cost charged to the stop, never the hit",
        "solve",
        SOLVE,
        "spent = np.where(hit >= 0, hit, result.stop_iter[runs])",
        "spent = result.stop_iter[runs]",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: learning rates seed-major while runs are lr-major",
        "solve",
        JOBS,
        "lr_indices = np.repeat(np.arange(len(self.learning_rates)), len(self.seeds))",
        "lr_indices = np.tile(np.arange(len(self.learning_rates)), len(self.seeds))",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: starts not shared by the runs of a seed",
        "solve",
        SOLVE,
        "start = np.tile(starts, (len(job.learning_rates), 1))",
        "start = np.repeat(starts, len(job.learning_rates), axis=0)",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: initial_gap from the first step",
        "solve",
        SOLVE,
        'columns["initial_gap"] = numeric_column(gap[0, runs])',
        'columns["initial_gap"] = numeric_column(gap[1, runs])',
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: budget one more than the steps",
        "solve",
        SOLVE,
        "np.full(runs.size, result.loss.shape[0] - 1, dtype=np.int64)",
        "np.full(runs.size, result.loss.shape[0], dtype=np.int64)",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: gap column without f*",
        "solve",
        SOLVE,
        'columns["gap"] = numeric_column(loss - f_star)',
        'columns["gap"] = numeric_column(loss)',
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: a thinned run no longer ends on its last iterate",
        "solve",
        SOLVE,
        "rows[last[last >= 0], np.flatnonzero(last >= 0)] = True",
        "pass",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: settled judged at the smallest tolerance",
        "solve",
        SOLVE,
        "close = gap[end, runs] <= max(tolerances)",
        "close = gap[end, runs] <= min(tolerances)",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: seeds lr-major while runs are lr-major",
        "solve",
        JOBS,
        "seeds = np.tile(np.array(self.seeds, dtype=np.int64), len(self.learning_rates))",
        "seeds = np.repeat(np.array(self.seeds, dtype=np.int64), len(self.learning_rates))",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: final metrics from the history's last row (NaN for stopped runs)",
        "solve",
        SOLVE,
        "final = result.states[np.maximum(last, 0), np.arange(n_runs), observed.index(name)]",
        "final = result.states[-1, np.arange(n_runs), observed.index(name)]",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: thinning drops the budget's last iterate",
        "solve",
        SOLVE,
        "keep[[0, steps]] = True",
        "keep[[0]] = True",
        SOLVE_TESTS + ("test_plumbing.py",),
        equivalent="the trajectory table keeps every run's last recorded row anyway, and a run that"
        " reaches the budget has its last row at `steps`",
    ),
    Mutation(
        "solve: gaps against the family's f* in the tables",
        "solve",
        SOLVE,
        "    f_star = target.optimum_loss_for(chart)\n    trajectories",
        "    f_star = target.optimum_loss\n    trajectories",
        SOLVE_TESTS + ("test_gaussian_nd.py",),
    ),
    Mutation(
        "provenance: the chart file's reference solution dropped",
        "provenance",
        SOLVE,
        'provenance = {"cell": params, "reference": reference, "versions": versions or _versions()}',
        'provenance = {"cell": params, "versions": versions or _versions()}',
        SOLVE_TESTS,
    ),
    Mutation(
        "provenance: one cell's reference solution dropped",
        "provenance",
        SOLVE,
        "for kind in TABLES}, params, reference)",
        "for kind in TABLES}, params, None)",
        SOLVE_TESTS,
    ),
    # --- io -------------------------------------------------------------------------------------
    Mutation(
        "io: initial_gap silently dropped from the summary schema",
        "io",
        IO,
        '        pa.field("initial_gap", pa.float64()),\n',
        "",
        IO_TESTS,
    ),
    Mutation(
        "io: settled silently dropped from the summary schema",
        "io",
        IO,
        '        pa.field("settled", pa.bool_()),\n',
        "",
        IO_TESTS,
    ),
    Mutation(
        "io: the held-out log-loss metric dropped from both schemas",
        "io",
        IO,
        'METRIC_COLUMNS = ("mean_error", "test_log_loss")',
        'METRIC_COLUMNS = ("mean_error",)',
        IO_TESTS,
    ),
    Mutation(
        "io: seed stored as a 32-bit integer",
        "io",
        IO,
        'pa.field("seed", pa.int64()),',
        'pa.field("seed", pa.int32()),',
        IO_TESTS,
    ),
    # --- config → job params --------------------------------------------------------------------
    Mutation(
        "plumbing: thin missing from the solver job's params",
        "plumbing",
        JOBS,
        '            "thin": self.thin,\n',
        "",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the row's thin not read",
        "plumbing",
        EXPERIMENTS,
        'thin=row.get("thin"),',
        "thin=None,",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the row's divergence_factor not read",
        "plumbing",
        EXPERIMENTS,
        'divergence_factor=float(row.get("divergence_factor", 1e8)),',
        "divergence_factor=1e8,",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the row's own tolerances ignored",
        "plumbing",
        EXPERIMENTS,
        "    if own is not None:\n        tolerances = _check_tolerances(",
        "    if own is not None:\n        _check_tolerances(",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the gradient estimator missing from the solver job's params",
        "plumbing",
        JOBS,
        '            "gradient": self.gradient,\n',
        "",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: a seed count n read as the seeds 1..n",
        "plumbing",
        EXPERIMENTS,
        "return tuple(range(spec))",
        "return tuple(range(1, spec + 1))",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the aggregate rule loses its digest",
        "workflow",
        "workflow/rules/aggregate.smk",
        '        library=library("aggregate.py"),\n',
        "",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the invariance rule loses its digest",
        "workflow",
        "workflow/rules/figures.smk",
        '        library=library("invariance.py"),\n',
        "",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the library digest skips shared target modules",
        "workflow",
        "src/ngbench/digests.py",
        "needed = module_closure(own_roots, root, registries)",
        "needed = set(own_roots)",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the library digest skips the data files",
        "workflow",
        "src/ngbench/digests.py",
        "[_module_file(root, name) for name in modules] + _data_files(root, modules)",
        "[_module_file(root, name) for name in modules]",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the reference rule loses its digest",
        "workflow",
        SOLVE_RULES,
        '        library=library("reference.py"),\n',
        "",
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the aggregate rule hashes another script's imports",
        "workflow",
        "workflow/rules/aggregate.smk",
        'library=library("aggregate.py"),',
        'library=library("why_tables.py"),',
        PLUMBING_TESTS,
    ),
    Mutation(
        "plumbing: the figure rule loses its digest",
        "workflow",
        "workflow/rules/figures.smk",
        '        library=library("figure_paths.py"),\n',
        "",
        PLUMBING_TESTS,
    ),
    # --- start draws ----------------------------------------------------------------------------
    Mutation(
        "starts: log-uniform drawn uniformly",
        "starts",
        STARTS,
        "return float(portable.exp(rng.uniform(portable.scalar_log(low), portable.scalar_log(high))))",
        "return float(rng.uniform(low, high))",
        START_TESTS,
    ),
    Mutation(
        "starts: log-uniform vectors drawn uniformly",
        "starts",
        STARTS,
        "return portable.exp(rng.uniform(portable.scalar_log(low), portable.scalar_log(high), size))",
        "return rng.uniform(low, high, size)",
        START_TESTS,
    ),
    Mutation(
        "starts: one generator for every coordinate of a start",
        "starts",
        STARTS,
        "rng = np.random.default_rng([INIT_STREAM, seed, j])",
        "rng = np.random.default_rng([INIT_STREAM, seed])",
        START_TESTS,
    ),
    Mutation(
        "starts: a d-dimensional start's variances from the means' generator",
        "starts",
        "src/ngbench/targets/gaussian_family.py",
        'init["var"], np.random.default_rng([INIT_STREAM, seed, 1]), self.dim',
        'init["var"], np.random.default_rng([INIT_STREAM, seed, 0]), self.dim',
        START_TESTS,
    ),
    Mutation(
        "starts: a d-dimensional start's variances taken as standard deviations",
        "starts",
        "src/ngbench/targets/gaussian_family.py",
        "return join(canonical[:, :dim], diagonal_matrix(canonical[:, dim:]))",
        "return join(canonical[:, :dim], diagonal_matrix(np.sqrt(canonical[:, dim:])))",
        START_TESTS,
    ),
    Mutation(
        "starts: a uniform spec's bounds read in the other order",
        "starts",
        STARTS,
        '            low, high = spec["uniform"]\n            return float(',
        '            high, low = spec["uniform"]\n            return float(',
        START_TESTS,
    ),
]

# Written after the tests above were, and run against them as they were: no test was added or changed
# for these. Their score estimates how the suite does on mistakes nobody wrote a test for.
# --- statistics: tuning, cross-fitting, paired tests, intervals (written with issue 13's tests) ---
STATS, INFERENCE = "src/ngbench/stats.py", "src/ngbench/inference.py"
STATS_TESTS = ("test_stats.py", "test_inference.py", "test_one_method_rows.py", "test_profiles.py")
MUTATIONS += [
    Mutation(
        "stats: folds by position instead of seed value",
        "stats",
        STATS,
        "even = tuple(s for s in values if s % 2 == 0)",
        "even = tuple(values[0::2])",
        STATS_TESTS,
    ),
    Mutation(
        "stats: success-first margin of 20 %",
        "stats",
        STATS,
        "SUCCESS_MARGIN = 0.1",
        "SUCCESS_MARGIN = 0.2",
        STATS_TESTS,
    ),
    Mutation(
        "stats: success-first ignores the success count",
        "stats",
        STATS,
        "keys = {lr: (successes[lr][0] < most - margin, *key) for lr, key in keys.items()}",
        "keys = {lr: (False, *key) for lr, key in keys.items()}",
        STATS_TESTS,
    ),
    Mutation(
        "stats: a failure charged one iteration, not the budget",
        "stats",
        STATS,
        'return hit.where(hit.notna(), summaries["budget"]).astype(float)',
        "return hit.where(hit.notna(), 1.0).astype(float)",
        STATS_TESTS,
    ),
    Mutation(
        "stats: the reporting median becomes a mean",
        "stats",
        STATS,
        '"median_iters": float(np.median(hits)) if hits.size else np.nan,\n                    "art"',
        '"median_iters": float(np.mean(hits)) if hits.size else np.nan,\n                    "art"',
        STATS_TESTS,
    ),
    Mutation(
        "stats: a win over a failure ranked with the finite ratios",
        "stats",
        STATS,
        "keys.append((1, Fraction(0)))",
        "keys.append((0, Fraction(1)))",
        STATS_TESTS,
    ),
    Mutation(
        "stats: both-fail pairs counted as wins of the first",
        "stats",
        STATS,
        "            keys.append((0, Fraction(1)))\n            signs.append(0)",
        "            keys.append((0, Fraction(1)))\n            signs.append(1)",
        STATS_TESTS,
    ),
    Mutation(
        "stats: Holm multiplies by the rank instead of the remaining count",
        "stats",
        STATS,
        "running = max(running, min(1.0, (len(order) - rank) * p[index]))",
        "running = max(running, min(1.0, (rank + 1) * p[index]))",
        STATS_TESTS,
    ),
    Mutation(
        "stats: the swap test does not swap",
        "stats",
        STATS,
        "first = np.where(swaps, runtime[1][chosen[:, 0], seed_index], runtime[0][chosen[:, 0], seed_index])",
        "first = runtime[0][chosen[:, 0], seed_index]",
        STATS_TESTS,
    ),
    Mutation(
        "stats: the swap test does not tune again",
        "stats",
        STATS,
        "            chosen[:, m, reporting] = picks[m][:, None]",
        "            chosen[:, m, reporting] = picks[m][:1, None]",
        STATS_TESTS,
    ),
    Mutation(
        "stats: tuned runs take every lr",
        "stats",
        STATS,
        'return merged[merged["lr"] == merged["best_lr"]].drop(columns="best_lr")',
        'return merged.drop(columns="best_lr")',
        STATS_TESTS,
    ),
    Mutation(
        "inference: Clopper–Pearson at the wrong tail",
        "inference",
        INFERENCE,
        "return (1 - Fraction(level).limit_denominator(10**6)) / 2",
        "return 1 - Fraction(level).limit_denominator(10**6)",
        STATS_TESTS,
    ),
    Mutation(
        "inference: median interval one order statistic too narrow",
        "inference",
        INFERENCE,
        "return float(ordered[rank - 1]), float(ordered[ordered.size - rank])",
        "return float(ordered[rank]), float(ordered[ordered.size - rank - 1])",
        STATS_TESTS,
    ),
    Mutation(
        "inference: Walsh averages without the diagonal",
        "inference",
        INFERENCE,
        "i, j = np.triu_indices(n)",
        "i, j = np.triu_indices(n, 1)",
        STATS_TESTS,
    ),
    Mutation(
        "inference: signed-rank p one-sided",
        "inference",
        INFERENCE,
        "extreme = sum(ways for t, ways in enumerate(counts) if abs(2 * t - total) >= distance)",
        "extreme = sum(ways for t, ways in enumerate(counts) if 2 * t - total >= distance)",
        STATS_TESTS,
    ),
    Mutation(
        "profiles: score over τ up to 2",
        "stats",
        "src/ngbench/profiles.py",
        "SCORE_LIMIT = 4.0",
        "SCORE_LIMIT = 2.0",
        STATS_TESTS,
    ),
]

HOLDOUT = [
    Mutation(
        "runner: the loop ends one step before the budget",
        "runner",
        RUNNER,
        "if t == steps or active.size == 0:",
        "if t == steps - 1 or active.size == 0:",
        RUNNER_TESTS,
    ),
    Mutation(
        "runner: the divergence limit forgets f*",
        "runner",
        RUNNER,
        "gap_limit = divergence_factor * np.maximum(1.0, loss - f_star)",
        "gap_limit = divergence_factor * np.maximum(1.0, loss)",
        RUNNER_TESTS,
    ),
    Mutation(
        "methods: Adam's first moment mixed with β₂",
        "methods",
        METHODS,
        "scratch = np.multiply(direction, 1.0 - beta1)",
        "scratch = np.multiply(direction, 1.0 - beta2)",
        METHOD_TESTS,
    ),
    Mutation(
        "methods: newton counted as two solves",
        "methods",
        METHODS,
        '"hessian",\n            label="Newton",\n'
        '            style=_style(9, "P", (0, (8, 1.5, 2, 1.5))),\n            solves_per_step=1,',
        '"hessian",\n            label="Newton",\n'
        '            style=_style(9, "P", (0, (8, 1.5, 2, 1.5))),\n            solves_per_step=2,',
        METHOD_TESTS,
    ),
    Mutation(
        "solve: stop_iter is the last recorded iteration",
        "solve",
        SOLVE,
        'columns["stop_iter"] = numeric_column(result.stop_iter[runs])',
        'columns["stop_iter"] = numeric_column(np.maximum(result.last_recorded, 0)[runs])',
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: settled looks at the last hundredth, not tenth",
        "solve",
        SOLVE,
        "start = np.maximum(end - np.maximum((end + 1) // 10, 1), 0)",
        "start = np.maximum(end - np.maximum((end + 1) // 100, 1), 0)",
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: diverged and invalid runs may count as settled",
        "solve",
        SOLVE,
        "unfailed = ~np.isin(result.status, FAILURE_STATUSES)",
        'unfailed = result.status != "failed"',
        SOLVE_TESTS,
    ),
    Mutation(
        "solve: first hits on the loss, not the gap",
        "solve",
        SOLVE,
        "hits = first_hits(gap, tolerances)",
        "hits = first_hits(result.loss, tolerances)",
        SOLVE_TESTS,
    ),
    Mutation(
        "io: hit_iter stored as a float",
        "io",
        IO,
        'pa.field("hit_iter", pa.int64()),',
        'pa.field("hit_iter", pa.float64()),',
        IO_TESTS,
    ),
    Mutation(
        "io: null bits packed in the wrong order",
        "io",
        IO,
        'pa.py_buffer(np.packbits(valid, bitorder="little")), int',
        'pa.py_buffer(np.packbits(valid, bitorder="big")), int',
        IO_TESTS,
    ),
    Mutation(
        "plumbing: a logspace grid one learning rate short",
        "plumbing",
        EXPERIMENTS,
        "return portable.logspace(float(start), float(stop), int(count))",
        "return portable.logspace(float(start), float(stop), int(count) - 1)",
        PLUMBING_TESTS,
    ),
]
MUTATIONS += [replace(mutation, holdout=True) for mutation in HOLDOUT]


def copy_checkout(destination: Path, tests_from: str | None) -> None:
    for source in REPO.iterdir():
        name = source.name
        if name in SKIPPED:
            continue
        if name == "tests" and tests_from:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", tests_from, "tests"], capture_output=True, check=True
            ).stdout
            with tarfile.open(fileobj=BytesIO(archive)) as tar:
                tar.extractall(destination, filter="data")
        elif source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
            )
        else:
            shutil.copy2(source, destination / name)


def run_tests(root: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    """ "caught", "missed", "timeout" (counted caught: a mutant that hangs the suite is noticed) or
    "no tests" (none of the files exist, e.g. with --tests-from an older revision)."""
    files = [f"tests/{name}" for name in tests if (root / "tests" / name).exists()]
    if not files:
        return "no tests", 0.0
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [
        "nice",
        "-n",
        "10",
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        *files,
    ]
    started = time.monotonic()
    try:
        ran = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    seconds = time.monotonic() - started
    if ran.returncode == 0:
        return "missed", seconds
    if ran.returncode == 1:
        return "caught", seconds
    raise RuntimeError(
        f"pytest exited {ran.returncode} (not a test failure):\n{ran.stdout[-3000:]}{ran.stderr[-3000:]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-k", default="", help="run only mutations whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--holdout", action="store_true", help="run only the HOLDOUT mutations")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant's test run")
    parser.add_argument("--tests-from", help="a git revision whose tests/ to run instead of the checkout's")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the unmutated run of every test file"
    )
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.k in m.name and (m.holdout or not args.holdout)]
    if args.list:
        for mutation in chosen:
            print(f"{mutation.layer:10s} {mutation.name}  [{mutation.path}]")
        print(f"{len(chosen)} mutations (tables.py excluded)")
        return 0

    with tempfile.TemporaryDirectory(prefix="ngbench-mutation-") as tmp:
        root = Path(tmp)
        copy_checkout(root, args.tests_from)
        for mutation in chosen:  # every pattern must be there exactly once before anything runs
            count = (root / mutation.path).read_text().count(mutation.pattern)
            if count != 1:
                raise SystemExit(f"{mutation.name}: pattern occurs {count} times in {mutation.path}")
        if not args.no_baseline:
            files = tuple(sorted({name for m in chosen for name in m.tests}))
            outcome, seconds = run_tests(root, files, args.timeout * 3)
            if outcome not in ("missed", "no tests"):
                raise SystemExit(f"the unmutated suite does not pass ({outcome}): fix it first")
            print(f"baseline: {len(files)} test files pass unmutated ({seconds:.0f} s)", flush=True)
        results = []
        for mutation in chosen:
            path = root / mutation.path
            original = path.read_text()
            path.write_text(original.replace(mutation.pattern, mutation.replacement))
            try:
                outcome, seconds = run_tests(root, mutation.tests, args.timeout)
            finally:
                path.write_text(original)
            results.append((mutation, outcome))
            print(f"{outcome:8s} {seconds:5.0f} s  {mutation.layer:10s} {mutation.name}", flush=True)

    print()
    # A mutant listed as equivalent that no test catches is left out of the score, with its reason.
    scored = [(m, outcome) for m, outcome in results if not (m.equivalent and outcome == "missed")]
    layers = sorted({m.layer for m, _ in scored}, key=[m.layer for m in MUTATIONS].index)
    for layer in layers:
        mine = [outcome for m, outcome in scored if m.layer == layer]
        caught = sum(outcome in ("caught", "timeout") for outcome in mine)
        print(f"{layer:10s} {caught:3d}/{len(mine):<3d} caught")
    caught = sum(outcome in ("caught", "timeout") for _, outcome in scored)
    share = 100 * caught / max(len(scored), 1)
    print(f"{'overall':10s} {caught:3d}/{len(scored):<3d} caught ({share:.0f} %)")
    held = [outcome for m, outcome in scored if m.holdout]
    if held:
        caught_held = sum(outcome in ("caught", "timeout") for outcome in held)
        print(
            f"{'holdout':10s} {caught_held:3d}/{len(held):<3d} caught (written after the tests; see HOLDOUT)"
        )
    print("not mutated: src/ngbench/tables.py (rendering; its numbers come from the statistics)")
    for mutation, outcome in results:
        if mutation.equivalent and outcome == "missed":
            print(f"equivalent: {mutation.name}: {mutation.equivalent}")
        elif outcome not in ("caught", "timeout"):
            print(f"{outcome}: {mutation.name} [{mutation.path}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
