"""Iteration counts and aRT against the trajectories they summarise, and by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ngbench.solve import solve_cell
from ngbench.stats import iteration_counts
from ngbench.tables import to_latex, to_markdown
from tests.test_runner import TOLERANCES, cell


@pytest.fixture(scope="module")
def sweep():
    """A cell with every status: converged, budget (tiny lr) and invalid (ρ > 0.582 from large variances)."""
    params = cell(
        init={"mean": {"uniform": [-3.0, 3.0]}, "var": {"loguniform": [0.5, 5.0]}},
        learning_rates=[0.001, 0.05, 0.3, 0.7],
        seeds=[0, 1, 2, 3, 4],
        steps=300,
    )
    result = solve_cell(params)
    return params, result.trajectories.to_pandas(), result.summaries.to_pandas()


def test_sweep_has_every_kind_of_run(sweep):
    _, _, summaries = sweep
    assert {"converged", "budget", "invalid"} <= set(summaries["status"])


def test_first_hits_and_stops_agree_with_the_trajectories(sweep):
    params, trajectories, summaries = sweep
    for (lr, seed), rows in trajectories.groupby(["lr", "seed"]):
        rows = rows.sort_values("iter")
        assert (rows["iter"].to_numpy() == np.arange(len(rows))).all(), "iterations are consecutive from 0"
        status = rows["status"].iloc[0]
        run = summaries[(summaries["lr"] == lr) & (summaries["seed"] == seed)]
        for tolerance in TOLERANCES:
            hit_rows = rows[rows["gap"] <= tolerance]
            expected = hit_rows["iter"].iloc[0] if len(hit_rows) else None
            actual = run.loc[run["tolerance"] == tolerance, "hit_iter"].iloc[0]
            assert (expected is None and math.isnan(actual)) or expected == actual
        stop = run["stop_iter"].iloc[0]
        if status in ("budget", "converged"):
            assert stop == params["steps"] == rows["iter"].max()
        else:  # the iterate that left the domain has no row
            assert stop == rows["iter"].max() + 1
        converged = (rows["gap"] <= min(TOLERANCES)).any()
        assert (status == "converged") == (converged and status in ("converged", "budget"))


def test_iteration_counts_recomputed_from_trajectories(sweep):
    params, trajectories, summaries = sweep
    stats = iteration_counts(summaries)
    assert len(stats) == len(params["learning_rates"]) * len(TOLERANCES)
    for _, row in stats.iterrows():
        runs = trajectories[trajectories["lr"] == row["lr"]]
        spent, hits = [], []
        for _, rows in runs.groupby("seed"):
            reached = rows.loc[rows["gap"] <= row["tolerance"], "iter"]
            if len(reached):
                hits.append(reached.min())
                spent.append(reached.min())
            else:  # a failure is charged the whole budget, however early it stopped
                spent.append(params["steps"])
        assert row["runs"] == len(spent) == len(params["seeds"])
        assert row["successes"] == len(hits)
        assert row["success_rate"] == pytest.approx(len(hits) / len(spent))
        if hits:
            assert row["median_iters"] == pytest.approx(np.median(hits))
            assert row["art"] == pytest.approx(sum(spent) / len(hits))
        else:
            assert math.isnan(row["median_iters"]) and math.isinf(row["art"])


def test_art_by_hand():
    base = {
        "experiment": "e",
        "target": "t",
        "parameterization": "p",
        "method": "m",
        "lr": 0.1,
        "tolerance": 1e-2,
    }
    summaries = pd.DataFrame(
        [
            {**base, "seed": 0, "hit_iter": 10.0, "stop_iter": 100, "status": "converged"},
            {**base, "seed": 1, "hit_iter": 30.0, "stop_iter": 100, "status": "budget"},
            {**base, "seed": 2, "hit_iter": np.nan, "stop_iter": 100, "status": "budget"},
            {**base, "seed": 3, "hit_iter": np.nan, "stop_iter": 7, "status": "diverged"},
        ]
    ).assign(budget=100, final_gap=1e-3)
    # Five Monte Carlo samples and one solve per step.
    spent = summaries["hit_iter"].fillna(summaries["stop_iter"])
    summaries = summaries.assign(grad_evals=5 * spent, solves=spent)
    row = iteration_counts(summaries).iloc[0]
    assert (row["runs"], row["successes"]) == (4, 2)
    assert row["success_rate"] == 0.5
    assert row["median_iters"] == 20.0
    assert (row["median_grad_evals"], row["median_solves"]) == (100.0, 20.0)  # over the successes only
    # The run that diverged at step 7 is charged the whole budget, like the one that ran out of it.
    assert row["art"] == pytest.approx((10 + 30 + 100 + 100) / 2)
    failed = iteration_counts(summaries.assign(hit_iter=np.nan)).iloc[0]
    assert failed["successes"] == 0 and math.isinf(failed["art"])


def test_tables_carry_the_statistics(sweep):
    _, _, summaries = sweep
    stats = iteration_counts(summaries)
    markdown = to_markdown(stats, "sweep")
    latex = to_latex(stats, "sweep")
    body = [line for line in markdown.splitlines() if line.startswith("| mean_var")]
    assert len(body) == len(stats)
    header = next(line for line in markdown.splitlines() if line.startswith("| chart"))
    column = {name.strip(): i for i, name in enumerate(header.strip("|").split("|"))}
    for line, (_, row) in zip(body, stats.iterrows(), strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[column["lr"]] == f"{row['lr']:.4g}"
        assert cells[column["successes"]] == str(row["successes"])
        assert cells[column["aRT"]] == ("∞" if math.isinf(row["art"]) else f"{row['art']:.1f}")
        # An interval the successes cannot support says so in words; none without a success at all.
        expected = (
            "—"
            if row["successes"] == 0
            else "n too small"
            if row["successes"] < 5
            else f"{row['median_iters_low']:.0f}"
        )
        assert cells[column["median 5%"]] == expected
    assert "∞" in markdown  # the tiny learning rate never reaches 1e-8
    from ngbench import __version__

    assert latex.splitlines()[0] == f"% made by ngbench {__version__} from config row experiments.sweep"
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\caption{", "\\label{tab:sweep-iterations}"):
        assert rule in latex
    assert latex.count("\\\\\n") == len(stats) + 1  # header + one line per statistic
    assert "$\\infty$" in latex and "mean\\_var" in latex


def test_table_cells_are_printed_as_formatted_not_reparsed(sweep):
    """The Markdown table shows each number as its column's format wrote it: tabulate, left to parse
    them, would print an aRT of 12.0 as 12 and align the column by its own rules."""
    _, _, summaries = sweep
    stats = iteration_counts(summaries).assign(art=12.0)
    rows = [line for line in to_markdown(stats, "sweep").splitlines() if line.startswith("| mean_var")]
    assert rows and all("| 12.0 " in line for line in rows)


def test_an_empty_table_keeps_its_caption_and_says_why():
    """A statistic without rows (a row with one method has no paired comparison): its caption still
    names the experiment, says — for the tolerances and states the default tuning rule; the body says
    why it is empty, or 'No rows.' without a reason; LaTeX gets an ASCII minus in 'loss − f*'."""
    from ngbench.tables import BEST_LR, RULE_TEXT

    empty = iteration_counts(synthetic_summaries()).iloc[0:0]
    markdown = to_markdown(empty, "lonely")
    assert "tolerance (—) in experiment lonely" in markdown
    assert markdown.endswith("No rows.\n")
    assert to_markdown(empty, "lonely", note="NGD alone: nothing to compare.").endswith(
        "NGD alone: nothing to compare.\n"
    )
    latex = to_latex(empty, "lonely")
    assert "No rows." in latex and "gap = loss - $f^*$" in latex and "−" not in latex
    best = to_markdown(empty.iloc[:, :0], "lonely", BEST_LR)
    assert RULE_TEXT["success_first"] in best


def test_an_experiments_tables_name_it_and_come_with_its_claims():
    from ngbench.tables import experiment_tables

    texts = experiment_tables(synthetic_summaries(), "my_row", 1e-8)
    assert set(texts) == {"", "_best_lr", "_paired", "_claims"}
    for suffix in ("", "_best_lr", "_paired"):
        assert "my_row" in texts[suffix]["md"].split("\n", 1)[0], suffix
        assert "my\\_row" in texts[suffix]["tex"], suffix


@pytest.mark.parametrize("rows", [0, 3])
def test_booktabs_table_matches_pandas_styler(rows):
    """The hand-written LaTeX is laid out exactly as pandas' Styler writes it (where jinja2 exists)."""
    pytest.importorskip("jinja2")
    from ngbench.tables import booktabs_table

    cells = pd.DataFrame(
        {"chart": ["mean\\_var", "natural", "x"][:rows], "aRT": ["$\\infty$", "12.0", "--"][:rows]},
        dtype=object,
    )
    options = {"caption": "NGD $\\le$ 1e-08", "label": "tab:x-y", "column_format": "lr"}
    expected = cells.style.hide(axis="index").to_latex(
        hrules=True, position="htbp", environment="table", **options
    )
    assert booktabs_table(cells, **options) == expected


def test_atomic_write_replaces_whole_files_and_clears_stale_temporaries(tmp_path):
    from ngbench.io import atomic_write, write_text

    target = tmp_path / "table.csv"
    stale = tmp_path / ".table.csv.abc123.tmp"
    stale.write_text("half a file from a killed writer")
    write_text("a,b\n1,2\n", target)
    assert target.read_text() == "a,b\n1,2\n" and not stale.exists()

    def fail(tmp):
        Path(tmp).write_text("partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "a,b\n1,2\n"  # the old content survives a failed write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_foreign_and_corrupt_files_are_refused_by_name(tmp_path, sweep):
    from ngbench.io import ResultFileError, read_summaries

    _, trajectories, summaries = sweep
    good = tmp_path / "good.parquet"
    summaries.to_parquet(good)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 not really")
    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"x": [1.0]}).to_parquet(foreign)
    retyped = tmp_path / "retyped.parquet"
    summaries.assign(seed=summaries["seed"].astype(str) + "x").to_parquet(retyped)
    assert len(read_summaries([good])) == len(summaries)
    for bad, message in (
        (garbage, "not a readable parquet file"),
        (foreign, "not an ngbench file of this kind; missing columns"),
        (retyped, "columns of unexpected types"),
    ):
        with pytest.raises(ResultFileError, match=rf"{bad.name}: {message}"):
            read_summaries([good, bad])


def test_thinned_trajectories_keep_exact_first_hits_and_every_run_end(sweep):
    from ngbench.solve import thinned_iterations

    params, full, summaries = sweep
    kept = thinned_iterations(300, 20)
    assert kept[0] and kept[300] and kept.sum() <= 22
    # Log-spaced (test_plumbing checks the ratios): half the kept iterations lie in the first tenth,
    # where evenly spaced ones would put one or two.
    assert np.median(np.flatnonzero(kept)) < 300 / 10
    thin = solve_cell({**params, "thin": 20})
    thinned = thin.trajectories.to_pandas()
    # Summaries (first hits, stops, statuses) are computed before thinning: identical.
    pd.testing.assert_frame_equal(thin.summaries.to_pandas(), summaries)
    merged = thinned.merge(full, on=["lr", "seed", "iter"], suffixes=("", "_full"), validate="one_to_one")
    assert len(merged) == len(thinned) < len(full) / 5
    np.testing.assert_array_equal(merged["loss"], merged["loss_full"])
    np.testing.assert_array_equal(merged["var"], merged["var_full"])
    last_full = full.groupby(["lr", "seed"])["iter"].max()
    last_thin = thinned.groupby(["lr", "seed"])["iter"].max()
    pd.testing.assert_series_equal(last_thin, last_full)  # each run still ends where it ended
    assert set(thinned.loc[thinned["iter"] > 0, "iter"]) <= set(np.flatnonzero(kept)) | set(last_full)


def test_quartiles_and_intervals(sweep):
    _, _, summaries = sweep
    stats = iteration_counts(summaries)
    pd.testing.assert_frame_equal(stats, iteration_counts(summaries))  # nothing random: same table twice
    for _, row in stats.iterrows():
        assert 0 <= row["success_low"] <= row["success_rate"] <= row["success_high"] <= 1
        if row["successes"]:
            assert row["q25_iters"] <= row["median_iters"] <= row["q75_iters"]
        if row["successes"] >= 5:
            assert row["median_iters_low"] <= row["median_iters"] <= row["median_iters_high"]
        else:  # too few successes for a 90 % interval: none, rather than one of zero width
            assert math.isnan(row["median_iters_low"]) and math.isnan(row["median_iters_high"])


def synthetic_summaries(runtimes=None, seeds=6):
    """Methods × learning rates on `seeds` seeds at one tolerance, with runtimes chosen by hand."""
    rows = []
    runtimes = runtimes or {  # (method, lr) → runtime per seed 0..5 (None: never reached)
        ("gd", 0.1): [50, 60, None, 55, 70, 65],
        ("gd", 0.5): [30, None, None, 35, None, 40],  # fast when it works, fails half the time
        ("ngd", 0.1): [20, 22, 21, 23, 19, 24],
        ("ngd", 0.5): [8, 9, 7, 10, 9, 8],
    }
    for (method, lr), values in runtimes.items():
        for seed, value in enumerate(values):
            rows.append(
                {
                    "experiment": "e",
                    "target": "t",
                    "parameterization": "p",
                    "method": method,
                    "lr": lr,
                    "seed": seed,
                    "tolerance": 1e-8,
                    "hit_iter": np.nan if value is None else float(value),
                    "stop_iter": 100,
                    "budget": 100,
                    "status": "budget" if value is None else "converged",
                    "final_gap": 1e-3 if value is None else 1e-9,
                    "grad_evals": 100 if value is None else value,
                    "solves": 0,
                }
            )
    return pd.DataFrame(rows)


def test_folds_split_by_seed_value_and_fall_back_to_no_holdout():
    from ngbench.stats import folds

    even, odd = folds([5, 1, 3, 0, 2])
    assert (even.name, even.tuning, even.reporting) == ("even", (0, 2), (1, 3, 5))
    assert (odd.name, odd.tuning, odd.reporting) == ("odd", (1, 3, 5), (0, 2))
    (only,) = folds([1, 3, 7])  # one parity: nothing can be held out, and the fold says so
    assert (only.name, only.tuning, only.reporting) == ("all", (1, 3, 7), (1, 3, 7))
    assert [f.name for f in folds([4])] == ["all"]


def test_best_learning_rate_is_cross_fitted():
    from ngbench.stats import best_learning_rates

    best = best_learning_rates(synthetic_summaries(), 1e-8).set_index(["method", "fold"])
    # gd tuned on seeds 0, 2, 4: lr 0.1 → 2 successes, aRT (50 + 100 + 70)/2 = 110; lr 0.5 → 1 success.
    row = best.loc[("gd", "even")]
    assert (row["best_lr"], row["tuning_successes"], row["tuning_seeds"]) == (0.1, 2, 3)
    assert row["tuning_art"] == pytest.approx(110)
    # ... reported on seeds 1, 3, 5 at lr 0.1: 60, 55, 65 → aRT 60.
    assert (row["runs"], row["successes"], row["median_iters"]) == (3, 3, 60)
    assert row["art"] == pytest.approx(60)
    # gd tuned on seeds 1, 3, 5: lr 0.1 → 3/3 (aRT 60), lr 0.5 → 2/3: 0.1; reported on 0, 2, 4.
    row = best.loc[("gd", "odd")]
    assert (row["best_lr"], row["tuning_successes"], row["successes"]) == (0.1, 3, 2)
    assert row["art"] == pytest.approx((50 + 100 + 70) / 2)
    assert best.loc[("ngd", "even"), "best_lr"] == best.loc[("ngd", "odd"), "best_lr"] == 0.5
    assert (best["learning_rates_tried"] == 2).all() and (best["tuning_rule"] == "success_first").all()


def test_every_seed_reports_once_at_the_lr_tuned_without_it():
    from ngbench.stats import best_learning_rates, folds, tuned_runs

    runtimes = {("gd", lr): [None] * 8 for lr in (0.1, 0.2)}
    runtimes[("gd", 0.1)] = [10, None, 10, None, 10, None, 10, None]  # only the even seeds succeed
    runtimes[("gd", 0.2)] = [None, 10, None, 10, None, 10, None, 10]  # only the odd ones
    summaries = synthetic_summaries(runtimes)
    best = best_learning_rates(summaries, 1e-8).set_index("fold")
    assert best.loc["even", "best_lr"] == 0.1 and best.loc["odd", "best_lr"] == 0.2
    reported = tuned_runs(summaries, best.reset_index())
    assert sorted(reported["seed"]) == list(range(8))
    for fold in folds(range(8)):
        rows = reported[reported["seed"].isin(fold.reporting)]
        assert (rows["lr"] == best.loc[fold.name, "best_lr"]).all()
    # Tuned on the other parity, every reported run fails: cross-fitting shows what tuning on the
    # same seeds would hide.
    assert reported["hit_iter"].isna().all()


def gaussian_1d_like(rates: dict, tuning_runs=10):
    """One method, learning rates with the given (successes, iterations of a success) on 2 × 10 seeds;
    the failures leave the domain at step 1, as NGD does in gaussian_1d_sweep past its stability limit."""
    runtimes = {}
    for lr, (successes, iterations) in rates.items():
        per_fold = [iterations] * successes + [None] * (tuning_runs - successes)
        runtimes[("ngd", lr)] = [per_fold[i // 2] for i in range(2 * tuning_runs)]  # same on both folds
    summaries = synthetic_summaries(runtimes)
    failed = summaries["hit_iter"].isna()
    summaries.loc[failed, ["status", "stop_iter"]] = ["invalid", 1]
    return summaries


@pytest.mark.parametrize(
    ("rates", "success_first", "art"),
    [
        # 1/10 fast successes against 10/10 slower ones: the failures cost the budget either way.
        ({1.1: (1, 5), 0.02: (10, 50)}, 0.02, 0.02),
        # 8/10 at 10 iterations: aRT (80 + 200)/8 = 35 beats 10/10 at 40; success_first does not
        # let it compete (8 < 10 − 1).
        ({0.5: (8, 10), 0.1: (10, 40)}, 0.1, 0.5),
        # 9/10 is within the margin of one run of 10: both rules take its aRT (90 + 100)/9 = 21.1.
        ({0.5: (9, 10), 0.1: (10, 40)}, 0.5, 0.5),
    ],
)
def test_tuning_rules(rates, success_first, art):
    from ngbench.stats import best_learning_rates

    summaries = gaussian_1d_like(rates)
    for rule, expected in (("success_first", success_first), ("art", art)):
        best = best_learning_rates(summaries, 1e-8, rule)
        assert (best["best_lr"] == expected).all(), rule
        assert (best["tuning_rule"] == rule).all()
    with pytest.raises(ValueError, match="unknown tuning rule 'fastest'"):
        best_learning_rates(summaries, 1e-8, "fastest")


def test_success_first_never_tunes_to_an_lr_that_mostly_fails_when_another_almost_always_works():
    """The acceptance rule, over random cells: if some lr succeeds in ≥ 90 % of the tuning runs,
    the chosen one succeeds in at least half of them."""
    from ngbench.stats import best_learning_rates

    rng = np.random.default_rng(13)
    for _ in range(60):
        rates = {
            float(lr): (int(rng.integers(0, 11)), int(rng.integers(1, 100)))
            for lr in rng.choice([0.001, 0.01, 0.1, 0.3, 1.0, 2.0], size=4, replace=False)
        }
        best = best_learning_rates(gaussian_1d_like(rates), 1e-8)
        if max(successes for successes, _ in rates.values()) >= 9:
            assert (best["tuning_successes"] >= 5).all(), rates


def brute_force_signed_rank_p(scores):
    """An independent oracle: rank |scores| (±inf above every finite), enumerate all 2ⁿ signs."""
    from itertools import product

    from scipy.stats import rankdata

    kept = [x for x in scores if x != 0]
    ranks = rankdata(np.abs(kept))
    observed = sum(r for r, x in zip(ranks, kept, strict=True) if x > 0)
    centre = ranks.sum() / 2
    extreme = sum(
        abs(sum(r for r, s in zip(ranks, signs, strict=True) if s) - centre) >= abs(observed - centre) - 1e-9
        for signs in product([False, True], repeat=len(kept))
    )
    return extreme / 2 ** len(kept)


def test_censored_paired_test_against_an_independent_enumeration():
    from ngbench.stats import censored_paired_test

    inf = np.inf
    rng = np.random.default_rng(3)
    for _ in range(25):
        n = int(rng.integers(1, 11))
        first = rng.integers(1, 40, n).astype(float)
        second = rng.integers(1, 40, n).astype(float)
        first[rng.random(n) < 0.3] = inf
        second[rng.random(n) < 0.3] = inf
        both = np.isfinite(first) & np.isfinite(second)
        # The oracle's scores: log speed-ups, ±inf where only one succeeded, 0 where both failed.
        scores = np.where(both, np.log(np.where(both, second, 1) / np.where(both, first, 1)), 0.0)
        scores[np.isfinite(first) & ~np.isfinite(second)] = inf
        scores[~np.isfinite(first) & np.isfinite(second)] = -inf
        result = censored_paired_test(first, second)
        expected = brute_force_signed_rank_p(scores) if np.any(scores != 0) else np.nan
        np.testing.assert_allclose(result["p_value"], expected, rtol=1e-12)
        assert result["first_faster"] == int((scores > 0).sum())
        assert result["second_faster"] == int((scores < 0).sum())


def test_a_win_over_a_failure_outranks_every_finite_speed_up():
    """mean_std in the issue: 3 fast failures would have been tiny differences; they rank on top."""
    from ngbench.stats import censored_paired_test

    ngd = np.array([np.inf, np.inf, np.inf, np.inf, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0])
    gd = np.array([10.0, 11.0, 12.0, 13.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0])
    result = censored_paired_test(ngd, gd)
    # GD's four wins over failures share the top ranks 7–10 (8.5 each, 34 in all); NGD's six narrow
    # wins hold ranks 1–6 (21): more wins, but the signed ranks favour GD.
    assert result["first_faster"] == 6 and result["second_faster"] == 4
    assert result["favours"] == "second"
    assert result["only_second"] == 4 and result["both_succeed"] == 6
    assert result["p_success"] == pytest.approx(0.125)  # 4 of 4 discordant pairs: 2 / 2⁴


def test_scipy_exact_wilcoxon_agrees_where_no_run_fails():
    from scipy.stats import wilcoxon

    from ngbench.stats import censored_paired_test

    rng = np.random.default_rng(5)
    first = rng.integers(5, 500, 12).astype(float)
    second = first * np.exp(rng.normal(0.3, 0.5, 12))
    second = np.round(second)
    scores = np.log(second / first)
    assume_no_ties = len(set(np.abs(scores).round(12))) == 12 and np.all(scores != 0)
    assert assume_no_ties
    expected = wilcoxon(scores, method="exact").pvalue
    assert censored_paired_test(first, second)["p_value"] == pytest.approx(expected, rel=1e-12)


def test_paired_comparison_reports_every_seed_at_its_cross_fitted_lr():
    from ngbench.stats import censored_paired_test, holm, paired_comparison

    table = paired_comparison(synthetic_summaries(), 1e-8)
    row = table.iloc[0]
    assert (row["ngd_lr"], row["gd_lr"], row["pairs"]) == ("0.5", "0.1", 6)
    assert (row["ngd_successes"], row["gd_successes"], row["both_succeed"]) == (6, 5, 5)
    assert (row["ngd_faster"], row["gd_faster"], row["ties"], row["favours"]) == (6, 0, 0, "ngd")
    ngd = np.array([8, 9, 7, 10, 9, 8], dtype=float)
    gd = np.array([50, 60, np.inf, 55, 70, 65])
    expected = censored_paired_test(ngd, gd)
    assert row["p_fixed_lr"] == expected["p_value"] == pytest.approx(2 / 2**6)
    # The swap test over all 2⁶ patterns: seeds whose two sweeps differ can all be swapped.
    assert row["min_attainable_p"] == pytest.approx(2 / 2**6)
    assert row["min_attainable_p"] <= row["p_value"] <= 1
    # Hodges–Lehmann over the 5 pairs where both succeed, by hand from the Walsh averages.
    d = np.log(np.array([50 / 8, 60 / 9, 55 / 10, 70 / 9, 65 / 8]))
    walsh = sorted((d[i] + d[j]) / 2 for i in range(5) for j in range(i, 5))
    assert row["log_speedup"] == pytest.approx(np.median(walsh), rel=1e-12)
    assert row["log_speedup_low"] == pytest.approx(walsh[0]) and row["log_speedup_high"] == pytest.approx(
        walsh[-1]
    )
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan]), [0.03, 0.06, 0.06, np.nan])


def holm_rejects(p_values: np.ndarray, alpha: float) -> set[int]:
    """Holm's step-down procedure at level α: in increasing order of p, reject while p(j)·(m − j) ≤ α
    (j from 0), and stop at the first that is not; NaN is no hypothesis."""
    tested = [i for i in range(len(p_values)) if not np.isnan(p_values[i])]
    rejected = set()
    for j, index in enumerate(sorted(tested, key=lambda i: p_values[i])):
        if p_values[index] * (len(tested) - j) > alpha * (1 + 1e-12):
            break
        rejected.add(index)
    return rejected


def test_holm_adjusted_p_values_are_the_smallest_levels_the_procedure_rejects_at():
    """A second Holm test, from the procedure's definition instead of a worked example: a hypothesis's
    adjusted p-value is the smallest α at which the step-down procedure rejects it (1 if none ≤ 1).
    Ties, NaN and p-values whose product passes 1 included."""
    from ngbench.stats import holm

    rng = np.random.default_rng(19)
    for _ in range(200):
        size = int(rng.integers(1, 8))
        p = np.round(rng.uniform(0.0, 0.4, size), 2)  # rounded: ties are common
        p[rng.uniform(size=size) < 0.15] = np.nan
        tested = int((~np.isnan(p)).sum())
        levels = sorted(
            {min(1.0, value * k) for value in p[~np.isnan(p)] for k in range(1, tested + 1)} | {1.0}
        )
        expected = np.full(size, np.nan)
        for index in np.flatnonzero(~np.isnan(p)):
            expected[index] = min((a for a in levels if index in holm_rejects(p, a)), default=1.0)
        np.testing.assert_allclose(holm(p), expected, rtol=1e-12, err_msg=str(p))


def test_swap_test_on_many_seeds_samples_the_patterns_it_would_enumerate(monkeypatch):
    """The default rows have 20 seeds: 2²⁰ swap patterns, so the swap test draws 1,999 of them. Its p
    must be the exact p over all 2¹² patterns of a 12-seed comparison (enumerated here by raising the
    resample count) within Monte Carlo error, the same on every call, and never below 1/2000."""
    from ngbench import stats

    rng = np.random.default_rng(7)
    close = {  # two methods with overlapping runtimes: a p far from 0
        (method, lr): [int(v) for v in rng.integers(20, 60, 12)]
        for method in ("gd", "ngd")
        for lr in (0.1, 0.5)
    }
    summaries = synthetic_summaries(close, seeds=12)
    sampled = stats.paired_comparison(summaries, 1e-8).iloc[0]
    assert stats.paired_comparison(summaries, 1e-8).iloc[0]["p_value"] == sampled["p_value"]
    assert sampled["min_attainable_p"] == pytest.approx(1 / 2000)
    monkeypatch.setattr(stats, "SWAP_RESAMPLES", 2**12 - 1)
    exact = stats.paired_comparison(summaries, 1e-8).iloc[0]
    assert 0.05 < exact["p_value"] < 0.99
    error = math.sqrt(exact["p_value"] * (1 - exact["p_value"]) / 1999)
    assert abs(sampled["p_value"] - exact["p_value"]) < 4 * error + 1 / 2000


def test_the_log_speedup_of_runs_that_take_one_iteration():
    """Newton, or NGD at ρ = 1 on a quadratic, gets there in one step: the log speed-up of 4 iterations
    against 1 is log 4, and a run already there at iteration 0 counts as one iteration."""
    from ngbench.stats import censored_paired_test

    result = censored_paired_test(np.array([1.0] * 6), np.array([4.0] * 6))
    assert result["log_speedup"] == pytest.approx(math.log(4), rel=1e-12)
    result = censored_paired_test(np.array([4.0] * 6), np.array([1.0] * 6))
    assert result["log_speedup"] == pytest.approx(-math.log(4), rel=1e-12)
    assert censored_paired_test(np.array([0.0] * 6), np.array([4.0] * 6))["log_speedup"] == pytest.approx(
        math.log(4), rel=1e-12
    )


def test_the_paired_table_uses_the_learning_rates_of_the_rows_tuning_rule():
    """A row tuned by aRT compares the methods at aRT's learning rates, not success_first's: here GD's
    fast lr 0.5 fails on a third of the seeds, so the two rules pick differently on the even fold."""
    from ngbench.stats import best_learning_rates, ngd_against_baselines

    runtimes = {
        ("gd", 0.1): [90, 95, 92, None, 99, 91],
        ("gd", 0.5): [5, None, None, 5, 5, 5],
        ("ngd", 0.1): [20, 22, 21, 23, 19, 24],
        ("ngd", 0.5): [8, 9, 7, 10, 9, 8],
    }
    summaries = synthetic_summaries(runtimes)
    chosen = {}
    for rule in ("success_first", "art"):
        best = best_learning_rates(summaries, 1e-8, rule)
        even = best[(best["method"] == "gd") & (best["fold"] == "even")]["best_lr"].item()
        chosen[rule] = ngd_against_baselines(summaries, 1e-8, best=best)["baseline_lr"].item()
        assert chosen[rule].split(" / ")[0] == f"{even:g}", rule
    assert chosen["success_first"] != chosen["art"]


def test_quartiles_of_the_iterations_by_hand():
    """GD at lr 0.1 reaches the tolerance in 50, 60, 55, 70, 65 iterations (one seed never): sorted
    50 55 60 65 70, so the quartiles are 55, 60, 65 (numpy's default linear interpolation lands on them)."""
    stats = iteration_counts(synthetic_summaries()).set_index(["method", "lr"])
    row = stats.loc[("gd", 0.1)]
    assert (row["q25_iters"], row["median_iters"], row["q75_iters"]) == (55, 60, 65)


def test_two_identical_methods_favour_neither():
    from ngbench.stats import paired_comparison

    same = [20, 22, 21, 23, 19, 24]
    summaries = synthetic_summaries({(m, lr): same for m in ("gd", "ngd") for lr in (0.1, 0.5)})
    row = paired_comparison(summaries, 1e-8).iloc[0]
    assert row["favours"] == "neither" and row["ties"] == 6


def test_a_method_that_never_succeeds_is_compared_at_its_smallest_lr():
    from ngbench.stats import best_learning_rates, paired_comparison

    summaries = synthetic_summaries()
    gd = summaries["method"] == "gd"
    summaries.loc[gd, "hit_iter"] = np.nan
    summaries.loc[gd, "final_gap"] = np.where(summaries.loc[gd, "lr"] == 0.5, 1e-6, 1e-3)  # 0.5 ends closer
    best = best_learning_rates(summaries, 1e-8).set_index("method")
    # Where it ends is no criterion: no tolerance reached, no failures, so the smaller lr.
    assert (best.loc["gd", "best_lr"] == 0.1).all() and np.isinf(best.loc["gd", "art"]).all()
    row = paired_comparison(summaries, 1e-8).iloc[0]
    assert (row["pairs"], row["ngd_faster"], row["gd_faster"]) == (6, 6, 0)
    assert np.isnan(row["log_speedup"])  # no pair where both succeed: no speed-up to estimate


def test_ngd_is_compared_with_every_other_method_and_holm_spans_them_all():
    from ngbench.stats import holm, ngd_against_baselines, paired_comparison

    summaries = synthetic_summaries()
    # Adam: the GD runtimes shifted by 5, so its comparison differs from GD's.
    adam = summaries[summaries["method"] == "gd"].assign(method="adam", hit_iter=lambda f: f["hit_iter"] - 5)
    summaries = pd.concat([summaries, adam], ignore_index=True)
    table = ngd_against_baselines(summaries, 1e-8)
    assert list(table["baseline"]) == ["gd", "adam"]  # the registry's order
    for _, row in table.iterrows():
        alone = paired_comparison(summaries, 1e-8, "ngd", row["baseline"]).iloc[0]
        assert row["baseline_lr"] == alone[f"{row['baseline']}_lr"]
        assert row["baseline_successes"] == alone[f"{row['baseline']}_successes"]
        assert row["ngd_faster"] == alone["ngd_faster"] and row["p_value"] == alone["p_value"]
        assert row["favours"] in ("ngd", row["baseline"], "neither")
    np.testing.assert_allclose(table["p_holm"], holm(table["p_value"]))
    only_ngd = ngd_against_baselines(summaries[summaries["method"] == "ngd"], 1e-8)
    assert only_ngd.empty and "baseline" in only_ngd.columns


# --- decisions that do not hang on the last bit ---------------------------------------------------


def never_succeeding(final_gaps: dict, statuses: dict | None = None, hits: dict | None = None):
    """One method on 4 seeds at two tolerances; per lr its final gap, statuses and hits at 1e-2."""
    rows = []
    for lr, gap in final_gaps.items():
        for seed in range(4):
            status = (statuses or {}).get(lr, "budget")
            for tolerance in (1e-2, 1e-8):
                hit = (hits or {}).get(lr) if tolerance == 1e-2 else None
                rows.append(
                    {
                        "experiment": "e",
                        "target": "t",
                        "parameterization": "p",
                        "method": "gd",
                        "lr": lr,
                        "seed": seed,
                        "tolerance": tolerance,
                        "hit_iter": np.nan if hit is None else float(hit),
                        "stop_iter": 100 if status == "budget" else 3,
                        "budget": 100,
                        "status": status,
                        "final_gap": gap,
                        "grad_evals": 100,
                        "solves": 0,
                    }
                )
    return pd.DataFrame(rows)


def tuned(summaries) -> float:
    from ngbench.stats import best_learning_rates

    return float(best_learning_rates(summaries, 1e-8)["best_lr"].iloc[0])


def test_final_gaps_never_decide_so_the_choice_cannot_flip():
    # gaussian_nd_d100 natural/gd: 276.0 at lr 0.001 and 237.6 at lr 0.00316 on one CPU, the other
    # way round on another. No tolerance reached, no failures: the smaller lr, on both.
    assert tuned(never_succeeding({0.001: 276.0, 0.00316: 237.6})) == 0.001
    assert tuned(never_succeeding({0.001: 237.6, 0.00316: 276.0})) == 0.001
    assert tuned(never_succeeding({0.001: 1e3, 0.00316: 1e-3, 0.01: 5.0})) == 0.001
    # Converged runs with the same counts tie whatever their rounding-level final gaps.
    same = never_succeeding({0.1: -1e-17, 0.2: 1e-17}, hits={0.1: 5, 0.2: 5})
    assert tuned(same) == tuned(never_succeeding({0.1: 1e-17, 0.2: -1e-17}, hits={0.1: 5, 0.2: 5})) == 0.1


def test_reaching_a_looser_tolerance_outranks_any_final_gap():
    summaries = never_succeeding({0.01: 1e-9, 0.1: 50.0, 1.0: 60.0}, hits={0.1: 40, 1.0: 20})
    assert tuned(summaries) == 1.0  # reaches 1e-2 fastest; lr 0.01 ends closest but never gets there


def test_fewer_failures_outrank_a_smaller_lr():
    summaries = never_succeeding({0.1: 1e-3, 1.0: 10.0})
    summaries.loc[(summaries["lr"] == 0.1) & (summaries["seed"] == 2), "status"] = "invalid"  # one of 4
    assert tuned(summaries) == 1.0
    assert tuned(never_succeeding({0.1: 1e-3, 1.0: 10.0})) == 0.1  # without it, the smaller lr


def test_failed_runs_cost_the_budget_whenever_they_stop():
    from ngbench.stats import iteration_counts

    summaries = never_succeeding({0.1: 1.0}, hits={0.1: 10})
    late, early = summaries.copy(), summaries.copy()
    for frame, stop in ((late, 90), (early, 1)):
        frame.loc[frame["seed"] == 3, ["hit_iter", "stop_iter", "status"]] = [np.nan, stop, "diverged"]
    counts = [iteration_counts(frame).set_index("tolerance").loc[1e-2] for frame in (late, early)]
    assert counts[0]["art"] == counts[1]["art"] == pytest.approx((3 * 10 + 100) / 3)
    assert counts[0]["success_low"] == counts[1]["success_low"]


def test_held_out_metrics_leave_out_runs_that_did_not_settle():
    """Only the settled runs' metrics are summarised (which runs settled: test_settled_runs)."""
    from ngbench.stats import iteration_counts, settled_metric

    summaries = never_succeeding({0.1: 1e-3})
    summaries["final_test_log_loss"] = [0.07, 0.07, 0.08, 0.08, 0.09, 0.09, 5.0, 5.0]
    summaries["settled"] = summaries["seed"] < 2
    kept = settled_metric(summaries, "final_test_log_loss")
    assert list(np.isnan(kept)) == [False, False, False, False, True, True, True, True]
    medians = iteration_counts(summaries)["median_final_test_log_loss"]
    assert medians.to_numpy() == pytest.approx([0.075, 0.075])


def test_settled_runs_are_unfailed_and_close_or_steady_at_the_end():
    from ngbench.runner import BatchResult
    from ngbench.solve import settled_runs

    steps = np.arange(41)
    gaps = np.stack(
        [
            1e3 * 0.5**steps,  # converges
            100.0 / (1 + steps),  # slow but steady: far from f*, settled
            50.0 + 10 * np.sin(steps),  # oscillates to the end: not settled
            np.r_[100.0 / (1 + steps[:-1]), 5.0],  # rises at the very last step
            1e3 * 0.5**steps,  # converges, then fails (below)
        ],
        axis=1,
    )
    status = np.array(["converged", "budget", "budget", "budget", "diverged"], dtype=object)
    result = BatchResult(loss=gaps, states=np.zeros((41, 5, 0)), status=status, stop_iter=np.full(5, 40))
    assert list(settled_runs(result, gaps, (1e-2, 1e-8))) == [True, True, False, False, False]


# --- the swap test: tuning luck inside the null distribution ---------------------------------------


def two_method_sweeps(rng, seeds: int, landscape, differ: float = 1.0):
    """Summaries of two methods over one lr grid: at lr ℓ a run succeeds with probability p(ℓ) after
    a lognormal number of iterations around m(ℓ) (GD's scaled by `differ`), else fails early."""
    rows = []
    for method, scale in (("ngd", 1.0), ("gd", differ)):
        for lr, (success, median) in landscape.items():
            for seed in range(seeds):
                won = rng.random() < success
                hit = float(np.ceil(median * scale * rng.lognormal(0.0, 0.3))) if won else np.nan
                for tolerance in (1e-2, 1e-8):
                    rows.append(
                        {
                            "experiment": "e",
                            "target": "t",
                            "parameterization": "p",
                            "method": method,
                            "lr": lr,
                            "seed": seed,
                            "tolerance": tolerance,
                            "hit_iter": (max(1.0, hit // 2) if tolerance == 1e-2 else hit) if won else np.nan,
                            "stop_iter": 200 if won else 3,
                            "budget": 200,
                            "status": "converged" if won else "diverged",
                        }
                    )
    return pd.DataFrame(rows)


TRADE_OFF = {0.01: (1.0, 150.0), 0.1: (0.9, 40.0), 0.5: (0.7, 12.0), 1.0: (0.5, 5.0)}


def test_swap_test_identity_pattern_is_the_reported_comparison():
    """Pattern 0 (no swap) tunes exactly as best_learning_rates and ranks exactly as censored_paired_test."""
    from ngbench.stats import (
        _signed_rank_statistic,
        _swap_statistics,
        _sweep_arrays,
        best_learning_rates,
        tuned_runs,
    )

    rng = np.random.default_rng(4)
    for _ in range(5):
        summaries = two_method_sweeps(rng, 10, TRADE_OFF)
        best = best_learning_rates(summaries, 1e-8)
        reported = tuned_runs(summaries[summaries["tolerance"] == 1e-8], best)
        runtimes = {
            m: reported[reported["method"] == m].sort_values("seed")["hit_iter"].fillna(np.inf).to_numpy()
            for m in ("ngd", "gd")
        }
        _, seeds, *arrays = _sweep_arrays(summaries, ("ngd", "gd"), 1e-8)
        identity = np.zeros((1, len(seeds)), dtype=bool)
        got = _swap_statistics(arrays, seeds, identity, "success_first")[0]
        expected = _signed_rank_statistic(runtimes["ngd"][None, :], runtimes["gd"][None, :])[0]
        assert got == expected
        # and against the brute-force ranking of the oracle: Σ sign·midrank
        a, b = runtimes["ngd"], runtimes["gd"]
        both = np.isfinite(a) & np.isfinite(b)
        scores = np.where(both, np.log(np.where(both, b, 1) / np.where(both, a, 1)), 0.0)
        scores[np.isfinite(a) & ~np.isfinite(b)] = np.inf
        scores[~np.isfinite(a) & np.isfinite(b)] = -np.inf
        from scipy.stats import rankdata

        kept = scores[scores != 0]
        assert got == pytest.approx(np.sum(np.sign(kept) * rankdata(np.abs(kept))), abs=1e-9)


@pytest.mark.slow
def test_swap_test_holds_its_level_when_the_methods_are_the_same_procedure():
    """Two identical procedures over an lr grid that trades speed for success: cross-fitted tuning
    picks different lrs for them by luck, which a test at fixed lrs mistakes for a difference. The
    swap test rejects at 5 % about 5 % of the time (300 simulated rows of 10 seeds, exact p)."""
    from ngbench.stats import paired_comparison

    rng = np.random.default_rng(21)
    rejected_swap = rejected_fixed = 0
    trials = 300
    for _ in range(trials):
        row = paired_comparison(two_method_sweeps(rng, 10, TRADE_OFF), 1e-8).iloc[0]
        rejected_swap += row["p_value"] < 0.05
        rejected_fixed += row["p_fixed_lr"] < 0.05
    assert rejected_swap / trials <= 0.08
    assert rejected_fixed > rejected_swap  # the reason for the swap test


def test_swap_test_finds_a_real_difference_and_reports_its_floor():
    from ngbench.stats import paired_comparison

    rng = np.random.default_rng(8)
    # Learning rates that always or never work: tuning cannot be lucky, only the methods differ.
    certain = {0.01: (1.0, 150.0), 0.1: (1.0, 40.0), 1.0: (0.0, 5.0)}
    row = paired_comparison(two_method_sweeps(rng, 8, certain, differ=4.0), 1e-8).iloc[0]
    # 8 seeds: all 2⁸ swap patterns enumerated; NGD 4× faster at every lr wins every seed.
    assert row["min_attainable_p"] == pytest.approx(2 / 2**8)
    assert row["p_value"] == pytest.approx(2 / 2**8)


def test_swapping_every_seed_mirrors_the_statistic_because_both_methods_are_tuned_again():
    """All seeds swapped: NGD now has GD's sweeps and tunes to GD's lr, and the other way round, so
    the statistic is exactly the observed one negated — only if each pattern is tuned afresh."""
    from ngbench.stats import _swap_statistics, _sweep_arrays, best_learning_rates

    rng = np.random.default_rng(2)
    fast_at_large = {0.01: (1.0, 150.0), 0.1: (1.0, 40.0)}
    # GD at 0.01 (median 45) against NGD at 0.1 (median 40): each wins some seeds.
    summaries = two_method_sweeps(rng, 10, fast_at_large, differ=0.3)
    # GD only works at the small lr: the two methods tune to different learning rates.
    gd_large = (summaries["method"] == "gd") & (summaries["lr"] == 0.1)
    summaries.loc[gd_large, ["hit_iter", "status"]] = [np.nan, "diverged"]
    best = best_learning_rates(summaries, 1e-8).set_index("method")
    assert set(best.loc["ngd", "best_lr"]) == {0.1} and set(best.loc["gd", "best_lr"]) == {0.01}
    _, seeds, *arrays = _sweep_arrays(summaries, ("ngd", "gd"), 1e-8)
    patterns = np.array([np.zeros(len(seeds), dtype=bool), np.ones(len(seeds), dtype=bool)])
    observed, mirrored = _swap_statistics(arrays, seeds, patterns, "success_first")
    assert 0 < abs(observed) < 55  # not every pair one way (10 pairs: ranks sum to 55)
    assert mirrored == -observed


def test_the_reported_median_is_a_median_of_skewed_runtimes():
    from ngbench.stats import best_learning_rates

    runtimes = {("gd", 0.1): [10, 10, 11, 11, 100, 100]}  # reported per fold: 10, 11, 100
    row = best_learning_rates(synthetic_summaries(runtimes), 1e-8).iloc[0]
    assert row["median_iters"] == 11  # the mean would be 40.3
