"""Figures with deterministic bytes: optimisation paths drawn over loss contours."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import LogFormatterMathtext  # noqa: E402

from ngbench.io import atomic_write  # noqa: E402
from ngbench.targets.base import Target  # noqa: E402

METHOD_STYLE = {
    "gd": {"color": "#d62728", "marker": "o", "label": "GD"},
    "ngd": {"color": "#1f77b4", "marker": "s", "label": "NGD"},
    "ef": {"color": "#2ca02c", "marker": "^", "label": "empirical Fisher"},
    "em": {"color": "#9467bd", "marker": "D", "label": "EM (complete-data Fisher)"},
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


def _bounds(
    values: list[np.ndarray], margin: float = 0.15, floor: float | None = None
) -> tuple[float, float]:
    joined = np.concatenate(values)
    low, high = float(joined.min()), float(joined.max())
    pad = margin * (high - low if high > low else max(abs(high), 1.0))
    low, high = low - pad, high + pad
    if floor is not None:
        low = max(low, floor)
    return low, high


def plot_paths(
    target: Target,
    paths: dict[str, pd.DataFrame],
    title: str,
    tolerance: float,
    y_floor: float | None = None,
    markers_every: int = 1,
) -> plt.Figure:
    """Paths (canonical states in `target.state_names` columns, in iteration order) over loss contours.

    `paths` maps a method name to its trajectory rows; the label shows the learning rate and the
    run's status, so a diverged or invalid path is drawn and named, not hidden.
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
    y_low, y_high = _bounds(ys, floor=y_floor)

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
            markevery=markers_every,
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
