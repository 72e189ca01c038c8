"""Figures with deterministic bytes: optimisation paths drawn over loss contours."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import LogFormatterMathtext  # noqa: E402

from ngbench.io import atomic_write  # noqa: E402
from ngbench.runner import FAILURE_STATUSES  # noqa: E402
from ngbench.stats import tuned_lr_label, tuned_runs  # noqa: E402
from ngbench.targets.base import Target  # noqa: E402

# seaborn's colour-blind-safe palette, so GD and NGD stay apart in print and for every reader.
_PALETTE = seaborn.color_palette("colorblind").as_hex()
METHOD_STYLE = {
    "gd": {"color": _PALETTE[3], "marker": "o", "label": "GD"},
    "ngd": {"color": _PALETTE[0], "marker": "s", "label": "NGD"},
    "ef": {"color": _PALETTE[2], "marker": "^", "label": "empirical Fisher"},
    "em": {"color": _PALETTE[4], "marker": "D", "label": "EM (complete-data Fisher)"},
}
# Metadata that would otherwise embed the date or the build in the file.
PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}


def save_figure(fig, png: str | Path, pdf: str | Path) -> None:
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=150, metadata=PNG_METADATA))
    atomic_write(pdf, lambda tmp: fig.savefig(tmp, format="pdf", metadata=PDF_METADATA))
    plt.close(fig)


def _outcome(rows: pd.DataFrame, tolerance: float) -> str:
    """'lr 0.1: gap ≤ 1e-08 at step 57', or the status and length of a run that never got there."""
    lr = rows["lr"].iloc[0]
    reached = rows.loc[rows["gap"] <= tolerance, "iter"]
    if len(reached):
        return f"lr {lr:g}: gap ≤ {tolerance:g} at step {int(reached.iloc[0])}"
    return f"lr {lr:g}: {rows['status'].iloc[0]} after {int(rows['iter'].iloc[-1])} steps"


def _bounds(values: list[np.ndarray], margin: float = 0.15) -> tuple[float, float]:
    joined = np.concatenate(values)
    low, high = float(joined.min()), float(joined.max())
    pad = margin * (high - low if high > low else max(abs(high), 1.0))
    return low - pad, high + pad


def plot_paths(
    target: Target,
    paths: dict[str, pd.DataFrame],
    title: str,
    tolerance: float,
) -> plt.Figure:
    """Paths (canonical states in `target.state_names` columns, in iteration order) over loss contours.

    `paths` maps a method name to its trajectory rows; the label shows the learning rate and the
    run's status, so a diverged, invalid or failed path is drawn and named, not hidden.
    """
    # Every local minimum the target knows of is in view; the first is the global one.
    landmarks_x, landmarks_y = target.to_plot(target.landmarks())
    xs, ys = [landmarks_x], [landmarks_y]
    plotted = {}
    for method, rows in paths.items():
        states = rows[list(target.state_names)].to_numpy()
        x, y = target.to_plot(states)
        plotted[method] = (x, y, rows)
        xs.append(x)
        ys.append(y)
    x_low, x_high = _bounds(xs)
    y_low, y_high = _bounds(ys)

    grid_x, grid_y = np.meshgrid(np.linspace(x_low, x_high, 300), np.linspace(y_low, y_high, 300))
    canonical = target.from_plot(grid_x.ravel(), grid_y.ravel())
    with np.errstate(all="ignore"):
        surface = (target.loss(canonical) - target.optimum_loss).reshape(grid_x.shape)
    positive = surface[np.isfinite(surface) & (surface > 0)]
    top = np.ceil(np.log10(positive.max()))
    bottom = np.floor(np.log10(max(positive.min(), 10.0 ** (top - 6))))
    levels = 10.0 ** np.arange(bottom, top + 0.25, 0.5)  # half-decade contours

    fig, ax = plt.subplots(figsize=(6.4, 6.0), layout="constrained")
    contour = ax.contour(
        grid_x, grid_y, surface, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.8
    )
    colorbar = fig.colorbar(
        contour, ax=ax, ticks=10.0 ** np.arange(bottom, top + 1), format=LogFormatterMathtext()
    )
    colorbar.set_label("loss gap  $\\mathcal{L} - \\mathcal{L}^*$")
    for method, (x, y, rows) in plotted.items():
        style = METHOD_STYLE.get(method, {"color": "black", "marker": "x", "label": method})
        ax.plot(
            x,
            y,
            color=style["color"],
            linewidth=1.4,
            marker=style["marker"],
            markersize=3.5,
            label=f"{style['label']}, {_outcome(rows, tolerance)}",
        )
        ax.plot(x[:1], y[:1], marker="o", markersize=8, markerfacecolor="none", color="black")
    star = {"marker": "*", "markeredgecolor": "black", "linestyle": "none", "zorder": 5}
    ax.plot(landmarks_x[:1], landmarks_y[:1], markersize=16, color="gold", label="optimum", **star)
    if landmarks_x.size > 1:
        ax.plot(
            landmarks_x[1:],
            landmarks_y[1:],
            markersize=14,
            color="white",
            label="other local minimum",
            **star,
        )
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel(target.plot_labels[0])
    ax.set_ylabel(target.plot_labels[1])
    ax.set_title(title)
    # Below the axes, so the legend can never hide a path.
    fig.legend(loc="outside lower center", ncols=1, fontsize=8, frameon=False)
    return fig


def select_paths(
    trajectories: pd.DataFrame, parameterization: str, seed: int, learning_rates: dict[str, float]
) -> dict[str, pd.DataFrame]:
    """The trajectory of one seed per method, each at the learning rate the figure asks for."""
    paths = {}
    for method, lr in learning_rates.items():
        rows = trajectories[
            (trajectories["parameterization"] == parameterization)
            & (trajectories["method"] == method)
            & (trajectories["seed"] == seed)
            & np.isclose(trajectories["lr"], lr, rtol=1e-9, atol=0.0)
        ].sort_values("iter")
        if rows.empty:
            raise ValueError(f"no trajectory for {parameterization}/{method} at lr {lr} seed {seed}")
        paths[method] = rows
    return paths


# --- analysis figures of a whole experiment ------------------------------------------------------

# Convergence plots draw a gap below this fraction of the smallest tolerance at that floor: below it
# the curves show rounding noise (1e-13 to 1e-16), which moves from one CPU to another and says nothing
# about the method.
GAP_FLOOR_BELOW_TOLERANCE = 1e-2
# Distances below this are rounding noise: coordinates of order 1–10 carry ~1e-15 of it, and where
# it falls differs between CPUs. The invariance audit draws them at this level.
ROUNDING_LEVEL = 1e-13


def _panels(count: int):
    columns = min(count, 3)
    rows = -(-count // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.6 * columns, 3.0 * rows + 0.8),
        layout="constrained",
        squeeze=False,
        sharey=True,
    )
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:count]


def _style(method: str) -> dict:
    return METHOD_STYLE.get(method, {"color": "black", "marker": "x", "label": method})


def gap_quantiles(rows: pd.DataFrame, steps: int, floor: float) -> np.ndarray:
    """25/50/75 % of the gap over seeds at each iteration, shape (3, steps + 1), gaps below `floor`
    raised to it.

    A run that stopped early keeps its last gap if it ran out of budget, and counts as +∞ from the
    iteration where it stopped with a failure status (diverged, left the domain, or its step raised),
    so failures pull the band up instead of vanishing.
    """
    seeds = sorted(rows["seed"].unique())
    gaps = np.full((len(seeds), steps + 1), np.nan)
    for i, (_, run) in enumerate(rows.groupby("seed", sort=True)):
        gaps[i, run["iter"].to_numpy()] = np.maximum(run["gap"].to_numpy(), floor)
        last = int(run["iter"].max())
        if run["status"].iloc[0] in FAILURE_STATUSES:
            gaps[i, last + 1 :] = np.inf
    # Thinned trajectories: carry each run's last kept value forward to the next kept iteration.
    gaps = pd.DataFrame(gaps).ffill(axis=1).to_numpy()
    return np.quantile(gaps, [0.25, 0.5, 0.75], axis=0, method="inverted_cdf")


def convergence_figure(
    trajectories: pd.DataFrame, best: pd.DataFrame, steps: int, tolerance: float, title: str
) -> plt.Figure:
    """Gap against iteration, median and 25–75 % band over every seed, each at the lr tuned without
    it (cross-fitting: `ngbench.stats.tuned_runs`), a panel per chart; the legend counts the runs
    that reach the tolerance. Gaps below `GAP_FLOOR_BELOW_TOLERANCE` × tolerance are drawn at that
    floor (a dotted line)."""
    floor = GAP_FLOOR_BELOW_TOLERANCE * tolerance
    trajectories = tuned_runs(trajectories, best)
    charts = sorted(best["parameterization"].unique())
    fig, axes = _panels(len(charts))
    iterations = np.arange(steps + 1)
    for ax, chart in zip(axes, charts, strict=True):
        for method in best.loc[best["parameterization"] == chart, "method"].unique():
            rows = trajectories[
                (trajectories["parameterization"] == chart) & (trajectories["method"] == method)
            ]
            if rows.empty:
                continue
            low, median, high = gap_quantiles(rows, steps, floor)
            style = _style(method)
            reached = rows.groupby("seed")["gap"].min() <= tolerance
            outcome = f"{reached.sum()}/{reached.size} reach {tolerance:g}"
            ax.plot(
                iterations,
                median,
                color=style["color"],
                label=f"{style['label']}, lr {tuned_lr_label(best, chart, method)}: {outcome}",
            )
            ax.fill_between(
                iterations, low, np.minimum(high, 1e300), color=style["color"], alpha=0.2, linewidth=0
            )
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, steps)
        ax.set_ylim(floor / 2, None)
        ax.axhline(floor, color="grey", linewidth=0.5, linestyle=":")
        ax.set_title(chart, fontsize=10)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("gap  $\\mathcal{L} - \\mathcal{L}^*$")
    fig.suptitle(title)
    return fig


def lr_sensitivity_figure(stats: pd.DataFrame, tolerance: float, title: str) -> plt.Figure:
    """aRT against learning rate (log-log) per chart and method; learning rates with no success are marked."""
    at_tolerance = stats[np.isclose(stats["tolerance"], tolerance)]
    charts = sorted(at_tolerance["parameterization"].unique())
    fig, axes = _panels(len(charts))
    finite = at_tolerance.loc[np.isfinite(at_tolerance["art"]), "art"]
    ceiling = float(finite.max()) * 3 if len(finite) else 10.0
    for ax, chart in zip(axes, charts, strict=True):
        for method, rows in at_tolerance[at_tolerance["parameterization"] == chart].groupby(
            "method", sort=True
        ):
            style = _style(method)
            ok = np.isfinite(rows["art"])
            ax.plot(
                rows.loc[ok, "lr"],
                rows.loc[ok, "art"],
                color=style["color"],
                marker=style["marker"],
                markersize=4,
                label=style["label"],
            )
            ax.plot(
                rows.loc[~ok, "lr"],
                np.full((~ok).sum(), ceiling),
                linestyle="none",
                marker="x",
                color=style["color"],
                markersize=6,
                label=f"{style['label']}: no success",
            )
        ax.axhline(ceiling, color="grey", linewidth=0.5, linestyle=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(chart, fontsize=10)
        ax.set_xlabel("learning rate")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel(f"aRT to gap ≤ {tolerance:g}  (× = none of the runs)")
    fig.suptitle(title)
    return fig


def ecdf_figure(summaries: pd.DataFrame, best: pd.DataFrame, steps: int, title: str) -> plt.Figure:
    """Fraction of (seed × tolerance) targets reached by each iteration, per method, pooled over its
    charts, every seed at the lr its chart tuned without it (cross-fitting)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    chosen = tuned_runs(summaries, best)
    iterations = np.unique(np.geomspace(1, max(steps, 1), 200).astype(int))
    for method, rows in chosen.groupby("method", sort=True):
        hits = rows["hit_iter"].to_numpy(dtype=float)
        reached = np.array([(hits <= t).sum() for t in iterations]) / len(hits)
        style = _style(method)
        ax.step(
            iterations,
            reached,
            where="post",
            color=style["color"],
            label=f"{style['label']} ({len(hits)} run × tolerance pairs)",
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("iterations")
    ax.set_ylabel("fraction of targets reached")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def invariance_figure(audit: pd.DataFrame, title: str) -> plt.Figure:
    """Spread between charts of one step from the same start, against lr (log-log), with slopes 1 and 2."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    # Charts related by an affine map give NGD iterates equal to rounding (docs/maths.md §1.3): those
    # spreads are drawn at the level of double precision instead of vanishing from the log axis.
    audit = audit.assign(spread=np.maximum(audit["spread"], ROUNDING_LEVEL))
    for method, rows in audit.groupby("method", sort=True):
        style = _style(method)
        ax.plot(
            rows["lr"], rows["spread"], color=style["color"], marker=style["marker"], label=style["label"]
        )
    ax.axhline(ROUNDING_LEVEL, color="grey", linewidth=0.5)
    lr = audit["lr"].to_numpy()
    anchor = audit["lr"].min()
    for slope, method, text in ((1, "gd", "slope 1"), (2, "ngd", "slope 2")):
        rows = audit[audit["method"] == method]
        if rows.empty or rows["spread"].max() <= 1e3 * ROUNDING_LEVEL:
            continue  # no slope to show at the rounding floor
        start = rows.loc[rows["lr"] == anchor, "spread"].iloc[0]
        ax.plot(
            np.sort(lr), start * (np.sort(lr) / anchor) ** slope, color="grey", linestyle=":", linewidth=1
        )
        middle = np.sqrt(lr.min() * lr.max())
        ax.annotate(
            text,
            (middle, start * (middle / anchor) ** slope),
            fontsize=8,
            color="grey",
            textcoords="offset points",
            xytext=(4, -12),
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate $\\rho$")
    ax.set_ylabel("largest distance between charts after one step")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
