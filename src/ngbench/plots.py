"""Figures with deterministic bytes, sized for print: optimisation paths over loss contours, and the
analysis figures of a whole experiment."""

from __future__ import annotations

import hashlib
import json
import math
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from ngbench import __version__  # noqa: E402
from ngbench.io import atomic_write  # noqa: E402
from ngbench.methods import METHODS, ordered, styles  # noqa: E402
from ngbench.runner import FAILURE_STATUSES  # noqa: E402
from ngbench.stats import tuned_lr_label, tuned_runs  # noqa: E402
from ngbench.targets.base import Target  # noqa: E402

# --- print sizes and style ----------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A printed figure width, and how many panels fit side by side at it."""

    width: float  # inches: the figure is drawn at the size it is printed, so 7 pt stays 7 pt
    max_columns: int
    axes_height: float  # inches: the plotting area of one panel, whatever the text around it takes


# A journal's column (IEEE, ACM: 3.3–3.5 in) and its full text width (~7 in).
PRESETS = {
    "one_column": Preset(width=3.3, max_columns=2, axes_height=1.3),
    "two_column": Preset(width=7.0, max_columns=3, axes_height=1.45),
}
# The smallest text in any figure, in points at the preset's printed width: what journals ask for.
# It holds for scripts too: mathtext sets a sub- or superscript at SCRIPT_SCALE of its text's size
# (matplotlib's mathtext SHRINK_FACTOR), and a Unicode script ('⁻⁸', '₀') is as small a glyph.
SMALLEST_TEXT = 7.0
SCRIPT_SCALE = 0.7
STYLE = {
    # TrueType (Type 42) fonts instead of Type 3, which IEEE's and ACM's PDF checks reject. The subset
    # fontTools writes is the same bytes on every save.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "font.size": 8.0,
    "axes.titlesize": 8.0,
    "axes.labelsize": 8.0,
    "figure.titlesize": 8.0,
    "xtick.labelsize": SMALLEST_TEXT,
    "ytick.labelsize": SMALLEST_TEXT,
    "legend.fontsize": SMALLEST_TEXT,
    "legend.title_fontsize": SMALLEST_TEXT,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "legend.handlelength": 2.6,  # long enough to tell the dash patterns apart
    "legend.frameon": False,
    "figure.constrained_layout.h_pad": 0.03,
    "figure.constrained_layout.w_pad": 0.03,
}

# Each method's colour (seaborn's colour-blind-safe palette, the Okabe–Ito colours), marker, dash
# pattern and names come from its definition (ngbench.methods), so no two methods are told apart by
# colour alone (in greyscale print, or by a reader who confuses two of the colours). "x" is no
# method's marker: it means a run failed, or no success. Variants of one method share its colour and
# take their own marker and dashes (`ngbench.methods.styles`).
METHOD_STYLE = {name: method.style | {"label": method.label} for name, method in METHODS.items()}
# What a legend says of each method once, where the panel has no room.
METHOD_LONG_NAME = {name: method.long_name for name, method in METHODS.items() if method.long_name}
# The styles of the variants among the methods of the figures drawn so far (set by `_ordered`): a
# variant's marker depends on which other variants of its method it is drawn with.
_VARIANT_STYLES: dict[str, dict] = {}
FAILURE_MARKER = "x"
# The loss gap, without mathtext's superscript star (`SCRIPT_SCALE`).
GAP_SYMBOL = "ℒ − ℒ*"
# Metadata that would otherwise embed the date or the build in the file; what made the figure goes in
# instead (`save_figure`).
PNG_METADATA = {"Software": f"ngbench {__version__}"}
PDF_METADATA = {
    "Creator": f"ngbench {__version__}",
    "Producer": None,
    "CreationDate": None,
    "ModDate": None,
}


# The PNG's resolution, at which every figure is laid out (`_lay_out_once`).
PNG_DPI = 300


def method_style(method: str) -> dict:
    if method in METHOD_STYLE:
        return METHOD_STYLE[method]
    if method not in _VARIANT_STYLES:
        _VARIANT_STYLES.update(styles([method]))
    return _VARIANT_STYLES[method]


def method_name(method: str) -> str:
    if method in METHOD_STYLE:
        return METHOD_LONG_NAME.get(method, METHOD_STYLE[method]["label"])
    return method_style(method)["long_name"]


def provenance(rows: dict[str, dict]) -> str:
    """'ngbench 0.1.0; config row experiments.x (settings sha256 0123456789ab)': the release and the
    config rows that made a figure, for its metadata.

    The release, not the commit: a commit id would change every output on every commit. The digest
    of each row's settings (as the workflow saw them, defaults filled in) tells a reader whether
    their config's row of that name still draws this figure.
    """
    named = []
    for where, row in rows.items():
        digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
        named.append(f"{where} (settings sha256 {digest[:12]})")
    return f"ngbench {__version__}; config row{'s' if len(named) > 1 else ''} " + ", ".join(named)


def save_figure(fig, png: str | Path, pdf: str | Path, title: str = "", source: str = "") -> None:
    """PNG and PDF of `fig`, the same bytes on every run; `title` and `source` (see `provenance`) go
    in their metadata."""
    png_metadata = {**PNG_METADATA, "Title": title or None, "Source": source or None}
    pdf_metadata = {**PDF_METADATA, "Title": title or None, "Subject": source or None}
    png_metadata = {key: value for key, value in png_metadata.items() if value is not None}
    png_metadata.setdefault("Software", None)
    with plt.rc_context(STYLE):  # tick labels are made while saving: at the style's sizes
        _lay_out_once(fig)
        atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata=png_metadata))
        atomic_write(pdf, lambda tmp: fig.savefig(tmp, format="pdf", metadata=pdf_metadata))
    plt.close(fig)


class PlainLogFormatter(LogFormatter):
    """Log-axis tick labels in plain text at full size: '1e−8', '0.01', '100', '2e−3', where
    matplotlib writes 10⁻⁸ with its exponent as a mathtext script, 4.9 pt in a 7 pt label. Which
    ticks get a label (decades only, or 2 and 5 × 10ᵏ too on a short axis) is matplotlib's."""

    def _num_to_string(self, x, vmin, vmax):
        return plain_number(x)


def plain_number(value: float) -> str:
    """'1e−8', '2e−3', '0.05', '1', '300', '1e4': a tick value in at most a few characters, with a
    minus sign (U+2212) as matplotlib writes on its other axes."""
    if value == 0:
        return "0"
    exponent = int(np.floor(np.log10(abs(value)) + 1e-9))
    if -2 <= exponent <= 3:
        text = f"{value:.4g}"
    else:
        text = f"{float(f'{value / 10.0**exponent:.3g}'):g}e{exponent}"
    return text.replace("-", "\N{MINUS SIGN}")


# A mathtext string with a sub- or superscript ('$\\theta_0$', '$x^{2}$').
_MATHTEXT_SCRIPT = re.compile(r"\$[^$]*[_^][^$]*\$")


def _no_text_below_smallest(fig) -> None:
    """Every log axis labelled in plain text (`PlainLogFormatter`), and any text with a mathtext script
    (an axis label a target names '$\\theta_0$') set large enough that the script is `SMALLEST_TEXT`.

    Done for every figure before it is laid out (`_prepare_layout`) and again when it is saved, so no
    figure, panel or colorbar can miss it; a second time changes nothing."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for formatter, install in (
                (axis.get_major_formatter(), axis.set_major_formatter),
                (axis.get_minor_formatter(), axis.set_minor_formatter),
            ):
                if isinstance(formatter, LogFormatter) and not isinstance(formatter, PlainLogFormatter):
                    # Its settings as they are (base, which ticks get labels, a symlog threshold).
                    plain = PlainLogFormatter.__new__(PlainLogFormatter)
                    plain.__dict__.update(formatter.__dict__)
                    install(plain)
    # Tick labels are left at their size: their text is the formatter's, plain from now on, though a
    # label drawn before (to fit the layout) may still hold matplotlib's mathtext.
    for text in _texts_but_tick_labels(fig):
        if _MATHTEXT_SCRIPT.search(text.get_text()):
            text.set_fontsize(max(text.get_fontsize(), SMALLEST_TEXT / SCRIPT_SCALE))


def _texts_but_tick_labels(artist) -> Iterator[Text]:
    """Every text of `artist` (as `findobj(Text)` finds them) but its axes' tick labels.

    An axis's children are its label, its offset text and its ticks; `Axis.get_children` computes
    every tick location to list them, which cost as much as a layout of the figure."""
    if isinstance(artist, Text):
        yield artist
    children = [artist.label, artist.offsetText] if isinstance(artist, Axis) else artist.get_children()
    for child in children:
        yield from _texts_but_tick_labels(child)


# The average width of a DejaVu Sans character, in em, with room to spare: what line breaks assume.
CHARACTER_WIDTH = 0.6


def _wrap(text: str, width: float, fontsize: float) -> str:
    """`text` broken into lines that fit `width` inches at `fontsize` (see `CHARACTER_WIDTH`)."""
    characters = max(int(width * 72 / (CHARACTER_WIDTH * fontsize)), 10)
    return "\n".join(textwrap.wrap(text, characters, break_on_hyphens=False)) or text


def _pack(fragments: list[str], width: float, fontsize: float, separator: str = " · ") -> str:
    """Fragments joined on lines that fit `width` inches, none broken inside (see `_wrap`)."""
    characters = max(int(width * 72 / (CHARACTER_WIDTH * fontsize)), 10)
    lines: list[str] = []
    for fragment in fragments:
        if lines and len(lines[-1]) + len(separator) + len(fragment) <= characters:
            lines[-1] += separator + fragment
        else:
            lines.append(fragment)
    return "\n".join(lines)


def _figure_legend(fig, handles: list, width: float) -> None:
    """The figure's one legend, below its panels, so it never covers a curve."""
    longest = max(len(h.get_label()) for h in handles)
    columns = max(1, min(len(handles), int(width * 72 / ((longest + 5) * 0.5 * SMALLEST_TEXT))))
    fig.legend(handles=handles, loc="outside lower center", ncols=columns, columnspacing=1.2)


def _method_handle(method: str, label: str | None = None, marker: bool = True) -> Line2D:
    style = method_style(method)
    return Line2D(
        [],
        [],
        color=style["color"],
        linestyle=style["linestyle"],
        marker=style["marker"] if marker else None,
        label=label or method_name(method),
    )


# --- paths over loss contours ---------------------------------------------------------------------


def _reached(rows: pd.DataFrame, tolerance: float) -> int | None:
    """The first iteration with gap ≤ tolerance, or None."""
    reached = rows.loc[rows["gap"] <= tolerance, "iter"]
    return int(reached.iloc[0]) if len(reached) else None


def _outcome(rows: pd.DataFrame, tolerance: float) -> str:
    """'gap ≤ 1e-08 at step 57', or how a run that never got there ended."""
    step = _reached(rows, tolerance)
    if step is not None:
        return f"gap ≤ {tolerance:g} at step {step}"
    status, last = rows["status"].iloc[0], int(rows["iter"].iloc[-1])
    if status in FAILURE_STATUSES:
        return f"{status} at step {last + 1}"
    return f"gap {rows['gap'].iloc[-1]:.2g} after all {last} steps, short of {tolerance:g}"


def _bounds(values: list[np.ndarray], margin: float = 0.15) -> tuple[float, float]:
    joined = np.concatenate(values)
    low, high = float(joined.min()), float(joined.max())
    pad = margin * (high - low if high > low else max(abs(high), 1.0))
    return low - pad, high + pad


@dataclass(frozen=True)
class Path2D:
    """One method's drawn run: its trajectory rows, and how its lr ranks among the row's grid."""

    rows: pd.DataFrame
    lr: float
    fastest: bool  # no lr of the grid reaches the tolerance in fewer steps on this seed
    grid_size: int


def plot_paths(
    target: Target, paths: dict[str, Path2D], title: str, tolerance: float, preset: str = "one_column"
) -> plt.Figure:
    """Paths (canonical states in `target.state_names` columns, in iteration order) over loss contours.

    The legend gives each method's learning rate, whether it is the method's fastest on the grid,
    and the run's outcome, so a diverged, invalid or failed path is drawn and named, not hidden.
    """
    with plt.rc_context(STYLE):
        return _plot_paths(target, paths, title, tolerance, PRESETS[preset])


def _plot_paths(target, paths, title, tolerance, preset: Preset) -> plt.Figure:
    # Every local minimum the target knows of is in view; the first is the global one.
    landmarks_x, landmarks_y = target.to_plot(target.landmarks())
    xs, ys = [landmarks_x], [landmarks_y]
    plotted = {}
    for method, path in paths.items():
        states = path.rows[list(target.state_names)].to_numpy()
        x, y = target.to_plot(states)
        plotted[method] = (x, y, path)
    # The view holds the paths that did not fail (and every start): a diverging path would stretch
    # it until the others are a dot; it runs off the edge instead, and its legend entry says it diverged.
    kept = [m for m, (_, _, path) in plotted.items() if path.rows["status"].iloc[0] not in FAILURE_STATUSES]
    for method, (x, y, _) in plotted.items():
        finite = np.isfinite(x) & np.isfinite(y)
        xs.append(x[finite] if method in kept or not kept else x[finite][:1])
        ys.append(y[finite] if method in kept or not kept else y[finite][:1])
    x_low, x_high = _bounds(xs)
    y_low, y_high = _bounds(ys)

    grid_x, grid_y = np.meshgrid(np.linspace(x_low, x_high, 300), np.linspace(y_low, y_high, 300))
    canonical = target.from_plot(grid_x.ravel(), grid_y.ravel())
    with np.errstate(all="ignore"):
        surface = (_batched_loss(target, canonical) - target.optimum_loss).reshape(grid_x.shape)
    positive = surface[np.isfinite(surface) & (surface > 0)]
    top = np.ceil(np.log10(positive.max()))
    bottom = np.floor(np.log10(max(positive.min(), 10.0 ** (top - 6))))
    levels = 10.0 ** np.arange(bottom, top + 0.25, 0.5)  # half-decade contours

    width = preset.width
    fig, ax = plt.subplots(figsize=(width, width + 3.0), layout="constrained")  # then fitted
    contour = ax.contour(
        grid_x, grid_y, surface, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.6
    )
    colorbar = fig.colorbar(
        contour, ax=ax, ticks=10.0 ** np.arange(bottom, top + 1), format=PlainLogFormatter()
    )
    colorbar.set_label(f"loss gap  {GAP_SYMBOL}")
    for method, (x, y, path) in plotted.items():
        style = method_style(method)
        # Only where there was a choice: a row with one learning rate has no fastest.
        rank = (
            f", the fastest of the {path.grid_size} in the grid"
            if path.fastest and path.grid_size > 1
            else ""
        )
        ax.plot(
            x,
            y,
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markersize=3,
            linewidth=1.1,
            label=f"{method_name(method)} at ρ = {path.lr:g}{rank}: {_outcome(path.rows, tolerance)}",
        )
    first = next(iter(plotted.values()))
    ax.plot(
        first[0][:1],
        first[1][:1],
        marker="o",
        markersize=7,
        markerfacecolor="none",
        color="black",
        linestyle="none",
        label="start",
    )
    star = {"marker": "*", "markeredgecolor": "black", "linestyle": "none", "zorder": 5}
    ax.plot(landmarks_x[:1], landmarks_y[:1], markersize=11, color="gold", label="optimum", **star)
    if landmarks_x.size > 1:
        ax.plot(
            landmarks_x[1:],
            landmarks_y[1:],
            markersize=10,
            color="white",
            label="other local minimum",
            **star,
        )
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel(target.plot_labels[0])
    ax.set_ylabel(target.plot_labels[1])
    fig.suptitle(_wrap(title, width, STYLE["figure.titlesize"]))
    # Below the axes, so the legend can never hide a path; one entry a line, each wrapped to fit.
    handles, labels = ax.get_legend_handles_labels()
    for handle, label in zip(handles, labels, strict=True):
        handle.set_label(_wrap(label, width - 0.6, SMALLEST_TEXT))
    fig.legend(handles=handles, loc="outside lower center", ncols=1)
    # Near square in a column; across a page, no taller than a third of it.
    _fit_height(fig, [ax], min(0.75 * width, 3.6))
    return fig


# Contour points a loss is evaluated at in one call: a target's per-datum arrays for all 90,000
# points of the grid at once (the mixture's: 90,000 × 200 × 2 doubles, several of them) would
# page through gigabytes; in blocks they stay in cache.
CONTOUR_BLOCK = 2048


def _batched_loss(target: Target, canonical: np.ndarray) -> np.ndarray:
    """`target.loss` of every row of `canonical`, a block of rows at a time: the same numbers, since
    a target's loss treats each row (one state) on its own."""
    return np.concatenate(
        [
            target.loss(canonical[start : start + CONTOUR_BLOCK])
            for start in range(0, len(canonical), CONTOUR_BLOCK)
        ]
    )


def select_paths(
    trajectories: pd.DataFrame,
    parameterization: str,
    seed: int,
    learning_rates: dict[str, float],
    tolerance: float,
) -> dict[str, Path2D]:
    """The trajectory of one seed per method at the learning rate the figure asks for, and whether
    that lr is the method's fastest (fewest steps to `tolerance`) of all the row's learning rates."""
    paths = {}
    _ordered(learning_rates)  # the variants' styles among the figure's methods
    for method, lr in learning_rates.items():
        runs = trajectories[
            (trajectories["parameterization"] == parameterization)
            & (trajectories["method"] == method)
            & (trajectories["seed"] == seed)
        ].sort_values(["lr", "iter"])
        # The figure's lr is the grid's own number (the config check found it), as is the column's.
        rows = runs[runs["lr"] == lr]
        if rows.empty:
            raise ValueError(f"no trajectory for {parameterization}/{method} at lr {lr} seed {seed}")
        steps = {float(other): _reached(group, tolerance) for other, group in runs.groupby("lr", sort=True)}
        own = _reached(rows, tolerance)
        fastest = own is not None and all(s is None or s >= own for s in steps.values())
        paths[method] = Path2D(rows=rows, lr=float(lr), fastest=fastest, grid_size=len(steps))
    return paths


# --- analysis figures of a whole experiment ------------------------------------------------------

# Convergence plots draw a gap below this fraction of the smallest tolerance at that floor: below it
# the curves show rounding noise (1e-13 to 1e-16), which moves from one CPU to another and says nothing
# about the method.
GAP_FLOOR_BELOW_TOLERANCE = 1e-2
# Distances below this are rounding noise: coordinates of order 1–10 carry ~1e-15 of it, and where
# it falls differs between CPUs. The invariance audit draws them in a strip of their own.
ROUNDING_LEVEL = 1e-13


def _ordered(methods) -> list[str]:
    """Methods in the registry's order, so every figure lists them alike."""
    names = ordered(methods)
    _VARIANT_STYLES.update(styles(names))
    return names


def _fit_height(fig, axes, height: float) -> None:
    """Set the figure's height so that its panels' plotting areas are `height` inches tall.

    Constrained layout gives titles, notes, tick labels and the legend their room first and the
    panels what is left; how much that is depends on the text, so the height is found by laying the
    figure out. Start from a figure taller than needed: a layout with no room left for the panels is
    not applied. Only the layout runs, not a draw: rendering every artist to pixels that are thrown
    away cost as much again, and a draw would lay the figure out the same way first.
    """
    _prepare_layout(fig)
    engine = fig.get_layout_engine()
    rows = len({ax.get_subplotspec().rowspan.start for ax in axes})
    for _ in range(6):
        engine.execute(fig)
        actual = min(ax.get_position().height for ax in axes) * fig.get_figheight()
        if abs(actual - height) < 0.005:
            break
        fig.set_figheight(fig.get_figheight() + (height - actual) * rows)
    else:
        engine.execute(fig)  # the layout at the height the figure keeps
    _keep_layout(fig)


def _prepare_layout(fig) -> None:
    """The figure as it will be saved, before it is laid out: its texts as `_no_text_below_smallest`
    sets them, at the PNG's resolution (text extents, hence margins, follow it by a pixel or so)."""
    _no_text_below_smallest(fig)
    fig.set_dpi(PNG_DPI)


def _lay_out_once(fig) -> None:
    """Lay `fig` out now, if it was not (`_fit_height` did), and keep that layout for both files.

    A figure with a layout engine is laid out again by every draw: once for the PNG, once more for
    the PDF, two constrained-layout passes each, every axis's ticks recomputed a dozen times in each.
    That was most of a figure job's time (two thirds of `analysis_figures`); the layout is the same.
    """
    engine = fig.get_layout_engine()
    _prepare_layout(fig)  # also for a figure laid out already: its texts are as they were then
    if engine is not None:
        engine.execute(fig)
        _keep_layout(fig)


# rcParams under which `Figure.set_layout_engine(None)` gives the figure no layout engine at all.
_NO_LAYOUT = {"figure.autolayout": False, "figure.constrained_layout.use": False}


def _keep_layout(fig) -> None:
    """Keep `fig` as it is laid out now: no engine lays it out again, and no save draws it twice.

    Not `set_layout_engine("none")`: on a figure that had an engine, that leaves a placeholder
    engine, and `savefig` draws a figure with any engine once without rendering before drawing it
    for the file (to let the engine lay it out): a whole pass over every artist, its ticks
    recomputed, for each of the PNG and the PDF. `set_layout_engine(None)` with both layout
    rcParams off removes the engine (matplotlib's documented behaviour); the files are the same
    bytes (tests/test_figure_cost.py).
    """
    with plt.rc_context(_NO_LAYOUT):
        fig.set_layout_engine(None)


def _panels(count: int, preset: Preset, max_columns: int | None = None):
    """A grid of `count` panels at the preset's width, sharing the y axis, taller than it will be
    (see `_fit_height`)."""
    columns = min(count, max_columns or preset.max_columns)
    rows = -(-count // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(preset.width, (preset.axes_height + 1.5) * rows + 2.5),
        layout="constrained",
        squeeze=False,
        sharey=True,
    )
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:count]


def _is_last_row(ax, count: int) -> bool:
    """Whether no panel of the grid sits below `ax` (its x label is then the column's one)."""
    spec = ax.get_subplotspec()
    grid = spec.get_gridspec()
    below = (spec.rowspan.stop) * grid.ncols + spec.colspan.start
    return below >= count


def run_gaps(rows: pd.DataFrame, steps: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Gap of each run (one seed of `rows` a row) at every iteration, shape (runs, steps + 1), gaps
    below `floor` raised to it; and the iteration each run failed at, −1 for a run that did not fail.

    A run that stopped early keeps its last gap if it ran out of budget or converged; one that stopped
    with a failure status (diverged, left the domain, or its step raised) is +∞ from the next iteration.
    """
    seeds = sorted(rows["seed"].unique())
    gaps = np.full((len(seeds), steps + 1), np.nan)
    failed_at = np.full(len(seeds), -1)
    for i, (_, run) in enumerate(rows.groupby("seed", sort=True)):
        gaps[i, run["iter"].to_numpy()] = np.maximum(run["gap"].to_numpy(), floor)
        last = int(run["iter"].max())
        if run["status"].iloc[0] in FAILURE_STATUSES:
            gaps[i, last + 1 :] = np.inf
            failed_at[i] = min(last + 1, steps)
    # Thinned trajectories: carry each run's last kept value forward to the next kept iteration.
    return pd.DataFrame(gaps).ffill(axis=1).to_numpy(), failed_at


def gap_quantiles(rows: pd.DataFrame, steps: int, floor: float) -> np.ndarray:
    """25/50/75 % of the gap at each iteration over the runs that did not fail, shape (3, steps + 1);
    NaN where every run failed.

    Failed runs are left out so that the band shows the spread of the runs that kept going; figures
    mark each failure on its own (`run_gaps` gives where), instead of letting +∞ fill the band.
    """
    gaps, failed_at = run_gaps(rows, steps, floor)
    kept = gaps[failed_at < 0]
    if not len(kept):
        return np.full((3, steps + 1), np.nan)
    return np.quantile(kept, [0.25, 0.5, 0.75], axis=0, method="inverted_cdf")


def _log_limits(values: list[np.ndarray], must_show: list[float], headroom: float = 0.0):
    """(low, high) of a log axis around the finite positive `values` and the levels in `must_show`;
    `headroom` is the fraction of the height kept free at the top."""
    data = np.concatenate([np.ravel(v) for v in values] + [np.asarray(must_show, dtype=float)])
    data = data[np.isfinite(data) & (data > 0)]
    if not len(data):
        return 1e-1, 1e1
    low, high = np.log10(data.min()) - 0.3, np.log10(data.max()) + 0.3
    high = low + (high - low) / (1.0 - headroom)
    return 10.0**low, 10.0**high


# Failure marks sit in the top `FAILURE_STRIP` of a convergence panel, one row a method; learning
# rates with no success in the top `NO_SUCCESS_STRIP` of an lr-sensitivity panel.
FAILURE_STRIP = 0.16
NO_SUCCESS_STRIP = 0.3


def _label_short_log_axis(ax, low: float, high: float) -> None:
    """Ticks only where values are drawn (`low` to `high`); on an axis spanning under two decades,
    also at 2 and 5 × 10ᵏ, which matplotlib leaves unlabelled, so that every panel has values to read."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    exponents = np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
    multiples = (1.0, 2.0, 5.0) if np.log10(high / low) < 2 else (1.0,)
    ticks = [m * 10.0**e for e in exponents for m in multiples if low <= m * 10.0**e <= high]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: plain_number(value)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def convergence_figure(
    trajectories: pd.DataFrame,
    best: pd.DataFrame,
    steps: int,
    tolerance: float,
    title: str,
    preset: str = "two_column",
) -> plt.Figure:
    """Gap against iteration, median and 25–75 % band of the runs that did not fail, every seed at
    the lr tuned without it (cross-fitting: `ngbench.stats.tuned_runs`), a panel per chart. Each
    failed run is a × at the step it failed; each panel's title gives every method's tuned lr and how
    many runs reach the tolerance. Gaps below `GAP_FLOOR_BELOW_TOLERANCE` × tolerance are drawn at
    that floor."""
    with plt.rc_context(STYLE):
        return _convergence_figure(trajectories, best, steps, tolerance, title, PRESETS[preset])


def _convergence_figure(trajectories, best, steps, tolerance, title, preset: Preset):
    floor = GAP_FLOOR_BELOW_TOLERANCE * tolerance
    trajectories = tuned_runs(trajectories, best)
    charts = sorted(best["parameterization"].unique())
    methods = _ordered(best["method"].unique())
    # A panel per chart, every method in it; a row with one chart gets a panel per method instead,
    # so that the bands of different methods do not pile up into one grey block.
    if len(charts) == 1 and len(methods) > 1:
        panels = [(method_name(m), charts[0], [m]) for m in methods]
        title = f"{title} (chart {charts[0]})"
        # Four methods side by side across a page; two by two in a column, where names need the room.
        max_columns = preset.max_columns + 1 if preset.max_columns > 2 else preset.max_columns
    else:
        panels = [(chart, chart, methods) for chart in charts]
        max_columns = preset.max_columns
    one_method_each = len(panels) > 1 and all(len(shown) == 1 for _, _, shown in panels)
    fig, axes = _panels(len(panels), preset, max_columns)
    columns = min(len(panels), max_columns)
    panel_width = preset.width / columns
    iterations = np.arange(steps + 1)
    drawn, failures_drawn, floor_reached = [], False, False
    for ax, (heading, chart, shown) in zip(axes, panels, strict=True):
        notes = []
        on_top = blended_transform_factory(ax.transData, ax.transAxes)
        for method in shown:
            row_number = methods.index(method)
            rows = trajectories[
                (trajectories["parameterization"] == chart) & (trajectories["method"] == method)
            ]
            if rows.empty:
                continue
            lr = tuned_lr_label(best, chart, method)
            style = method_style(method)
            if rows.empty:
                notes.append(f"{style['label']}: no runs")
                continue
            gaps, failed_at = run_gaps(rows, steps, floor)
            runs = len(failed_at)
            reached = int((rows.groupby("seed")["gap"].min() <= tolerance).sum())
            failed = int((failed_at >= 0).sum())
            note = f"{'' if one_method_each else style['label'] + ' '}ρ {lr}: {reached}/{runs}"
            if failed == runs:
                note += f", all failed by step {failed_at.max()}"
            elif failed:
                note += f", {failed} failed"
            notes.append(note)
            if failed < runs:
                low, median, high = np.quantile(
                    gaps[failed_at < 0], [0.25, 0.5, 0.75], axis=0, method="inverted_cdf"
                )
                ax.fill_between(iterations, low, high, color=style["color"], alpha=0.15, linewidth=0)
                if one_method_each:
                    # Alone in its panel, each run can be drawn: outcomes that split between two
                    # minima show as two bundles, where the band only spans them.
                    ax.plot(
                        iterations, gaps[failed_at < 0].T, color=style["color"], alpha=0.45, linewidth=0.4
                    )
                ax.plot(iterations, median, color=style["color"], linestyle=style["linestyle"])
                drawn += [low, high]
                floor_reached |= bool((low <= floor).any())
            if failed:
                # In a strip at the top, a row a method, so marks of different methods never overlap.
                at = np.unique(failed_at[failed_at >= 0])
                height = 1.0 - FAILURE_STRIP * (row_number + 0.5) / len(methods)
                ax.plot(
                    at,
                    np.full(at.shape, height),
                    transform=on_top,
                    linestyle="none",
                    marker=FAILURE_MARKER,
                    markersize=4.5,
                    markeredgewidth=1.1,
                    color=style["color"],
                    clip_on=False,
                )
                failures_drawn = True
        ax.axhline(tolerance, color="0.6", linewidth=0.6, linestyle="-")
        if floor_reached:
            ax.axhline(floor, color="0.5", linewidth=0.5, linestyle=":")
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, steps)
        if _is_last_row(ax, len(panels)):
            ax.set_xlabel("iteration")
        ax.set_title(f"{heading}\n{_pack(notes, panel_width, SMALLEST_TEXT)}", fontsize=SMALLEST_TEXT)
    # One y range for all panels: the data and the tolerance, with room at the top for the failure marks.
    axes[0].set_ylim(*_log_limits(drawn, [tolerance], headroom=FAILURE_STRIP if failures_drawn else 0.05))
    axes[0].set_ylabel(f"gap  {GAP_SYMBOL}")
    for ax in axes[1:]:
        ax.tick_params(labelleft=ax.get_subplotspec().is_first_col())
    fig.suptitle(_wrap(title, preset.width, STYLE["figure.titlesize"]))
    handles = [_method_handle(m, marker=False) for m in methods]
    handles.append(Patch(color="0.5", alpha=0.3, linewidth=0, label="25–75 % of the runs that did not fail"))
    if one_method_each:
        handles.append(
            Line2D(
                [], [], color=method_style(methods[0])["color"], alpha=0.45, linewidth=0.4, label="one run"
            )
        )
    handles.append(
        Line2D([], [], color="0.6", linewidth=0.6, linestyle="-", label=f"tolerance {tolerance:g}")
    )
    if failures_drawn:
        handles.append(
            Line2D(
                [],
                [],
                color="0.2",
                marker=FAILURE_MARKER,
                linestyle="none",
                label="a run failed at this step",
            )
        )
    if floor_reached:
        handles.append(
            Line2D(
                [], [], color="0.5", linewidth=0.5, linestyle=":", label=f"gaps below {floor:g} drawn at it"
            )
        )
    _figure_legend(fig, handles, preset.width)
    fig.legends[0].set_title(
        _wrap(
            f"each panel: every method's tuned ρ and how many runs reach gap ≤ {tolerance:g}",
            preset.width,
            SMALLEST_TEXT,
        )
    )
    _fit_height(fig, axes, preset.axes_height)
    return fig


def lr_sensitivity_figure(
    stats: pd.DataFrame, tolerance: float, title: str, preset: str = "two_column"
) -> plt.Figure:
    """aRT against learning rate (log-log) per chart and method; learning rates at which no run
    reached the tolerance are marked × in a strip above the data, a row a method."""
    with plt.rc_context(STYLE):
        return _lr_sensitivity_figure(stats, tolerance, title, PRESETS[preset])


def _lr_sensitivity_figure(stats, tolerance, title, preset: Preset):
    at_tolerance = stats[np.isclose(stats["tolerance"], tolerance)]
    charts = sorted(at_tolerance["parameterization"].unique())
    methods = _ordered(at_tolerance["method"].unique())
    fig, axes = _panels(len(charts), preset)
    finite = at_tolerance.loc[np.isfinite(at_tolerance["art"]), "art"].to_numpy()
    missing = bool((~np.isfinite(at_tolerance["art"])).any())
    # Above the data, a strip of the axes' height: one row of × a method, under a line.
    strip = NO_SUCCESS_STRIP if missing else 0.0
    low, high = _log_limits([finite], [], headroom=strip)
    for ax, chart in zip(axes, charts, strict=True):
        in_chart = at_tolerance[at_tolerance["parameterization"] == chart]
        on_top = blended_transform_factory(ax.transData, ax.transAxes)
        for row_number, method in enumerate(methods):
            rows = in_chart[in_chart["method"] == method].sort_values("lr")
            if rows.empty:
                continue
            style = method_style(method)
            ok = np.isfinite(rows["art"])
            ax.plot(
                rows.loc[ok, "lr"],
                rows.loc[ok, "art"],
                color=style["color"],
                marker=style["marker"],
                linestyle=style["linestyle"],
            )
            if (~ok).any():
                ax.plot(
                    rows.loc[~ok, "lr"],
                    np.full((~ok).sum(), 1.0 - strip * (row_number + 0.5) / len(methods)),
                    transform=on_top,
                    linestyle="none",
                    marker=FAILURE_MARKER,
                    markersize=4.5,
                    markeredgewidth=1.1,
                    color=style["color"],
                )
        if missing:
            ax.plot([0, 1], [1.0 - strip] * 2, color="0.5", linewidth=0.5, transform=ax.transAxes)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(chart)
        if _is_last_row(ax, len(charts)):
            ax.set_xlabel("learning rate ρ")
    axes[0].set_ylim(low, high)
    _label_short_log_axis(axes[0], low, high ** (1 - strip) * low**strip)
    for ax in axes:
        ax.tick_params(labelleft=ax.get_subplotspec().is_first_col())
    for ax in axes:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(f"aRT to gap ≤ {tolerance:g}")
    fig.suptitle(_wrap(title, preset.width, STYLE["figure.titlesize"]))
    handles = [_method_handle(m) for m in methods]
    if missing:
        handles.append(
            Line2D(
                [],
                [],
                color="0.2",
                marker=FAILURE_MARKER,
                linestyle="none",
                label=f"no run reached {tolerance:g} (above the line, a row a method)",
            )
        )
    _figure_legend(fig, handles, preset.width)
    _fit_height(fig, axes, preset.axes_height)
    return fig


def ecdf_figure(
    summaries: pd.DataFrame, best: pd.DataFrame, steps: int, title: str, preset: str = "one_column"
) -> plt.Figure:
    """Fraction of (chart × seed × tolerance) targets reached by each iteration, a line per method,
    every seed at the lr its chart tuned without it (cross-fitting: `ngbench.stats.tuned_runs`).
    The subtitle says what is pooled."""
    with plt.rc_context(STYLE):
        return _ecdf_figure(summaries, best, steps, title, PRESETS[preset])


def _ecdf_figure(summaries, best, steps, title, preset: Preset):
    fig, ax = plt.subplots(figsize=(preset.width, preset.width + 3.0), layout="constrained")
    chosen = tuned_runs(summaries, best)
    iterations = np.unique(np.geomspace(1, max(steps, 1), 200).astype(int))
    methods = _ordered(chosen["method"].unique())
    finals = {}
    for method in methods:
        hits = chosen.loc[chosen["method"] == method, "hit_iter"].to_numpy(dtype=float)
        reached = np.array([(hits <= t).sum() for t in iterations]) / len(hits)
        style = method_style(method)
        ax.step(iterations, reached, where="post", color=style["color"], linestyle=style["linestyle"])
        # The share reached in the end, in words too: a method that reaches few targets draws a
        # line along the axis, easy to miss.
        finals[method] = f"{method_name(method)}: {(hits <= steps).sum()} of {len(hits)}"
    tolerances = np.sort(chosen["tolerance"].unique())
    charts = chosen["parameterization"].nunique()
    pooled = (
        f"each seed at the ρ its chart tuned without it; pooled over {charts} "
        f"chart{'s' if charts > 1 else ''} × {chosen['seed'].nunique()} seeds × {len(tolerances)} tolerances "
        f"({tolerances.max():g} to {tolerances.min():g})"
    )
    ax.set_xscale("log")
    ax.set_xlim(1, max(steps, 2))
    ax.set_ylim(-0.03, 1.03)  # a line at 0 or 1 stays clear of the frame
    ax.set_xlabel("iterations")
    ax.set_ylabel("fraction of targets reached")
    fig.suptitle(_wrap(title, preset.width, STYLE["figure.titlesize"]))
    ax.set_title(_wrap(pooled, preset.width - 0.5, SMALLEST_TEXT), fontsize=SMALLEST_TEXT)
    handles = [_method_handle(m, finals[m], marker=False) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=1, title="targets reached in the end")
    _fit_height(fig, [ax], _single_axes_height(preset))
    return fig


def invariance_figure(audit: pd.DataFrame, title: str, preset: str = "one_column") -> plt.Figure:
    """Spread between charts of one step from the same start, against lr (log-log), with slopes 1
    and 2. Spreads at the level of rounding (charts related by an affine map give NGD iterates equal
    to rounding, docs/maths.md §1.3) are drawn in a strip below the axis, instead of stretching it
    to 1e-13."""
    with plt.rc_context(STYLE):
        return _invariance_figure(audit, title, PRESETS[preset])


def _invariance_figure(audit, title, preset: Preset):
    outside = audit["spread"].isna()  # the step left some chart's domain: no spread to draw
    methods = _ordered(audit["method"].unique())
    labels = {}
    for method in methods:
        tried = audit.loc[audit["method"] == method, "lr"]
        lost = audit.loc[outside & (audit["method"] == method), "lr"]
        if len(lost) and (tried[tried >= lost.min()].isin(lost)).all():
            labels[method] = (
                f"{method_name(method)} (ρ ≥ {lost.min():.2g}: a step leaves some chart's domain)"
            )
        elif len(lost):
            labels[method] = (
                f"{method_name(method)} ({len(lost)} of the ρ: a step leaves some chart's domain)"
            )
        else:
            labels[method] = method_name(method)
    audit = audit[~outside]
    rounding = audit["spread"] <= ROUNDING_LEVEL
    height = preset.width + 3.0  # then fitted (`_fit_height`)
    if rounding.any():
        fig, (ax, strip) = plt.subplots(
            2,
            1,
            figsize=(preset.width, height),
            layout="constrained",
            sharex=True,
            gridspec_kw={"height_ratios": [8, 1]},
        )
    else:
        fig, ax = plt.subplots(figsize=(preset.width, height), layout="constrained")
        strip = None
    for method in methods:
        rows = audit[(audit["method"] == method) & ~rounding]
        style = method_style(method)
        ax.plot(
            rows["lr"],
            rows["spread"],
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
        )
        small = audit[(audit["method"] == method) & rounding]
        if strip is not None and len(small):
            strip.plot(
                small["lr"],
                np.full(len(small), 0.5),
                color=style["color"],
                marker=style["marker"],
                linestyle=style["linestyle"],
            )
    lr = np.sort(audit["lr"].unique())
    anchor = lr.min()
    for slope, method, text in ((1, "gd", "slope 1"), (2, "ngd", "slope 2")):
        rows = audit[(audit["method"] == method) & ~rounding]
        if len(rows) < 2 or not (rows["lr"] == anchor).any():
            continue  # no slope to show at the rounding floor
        start = rows.loc[rows["lr"] == anchor, "spread"].iloc[0]
        ax.plot(lr, start * (lr / anchor) ** slope, color="grey", linestyle=":", linewidth=0.8)
        middle = np.sqrt(lr.min() * lr.max())
        ax.annotate(
            text,
            (middle, start * (middle / anchor) ** slope),
            fontsize=SMALLEST_TEXT,
            color="0.35",
            textcoords="offset points",
            xytext=(4, -10),
        )
    shown = audit.loc[~rounding, "spread"].to_numpy()
    ax.set_ylim(*_log_limits([shown], []))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("largest distance between charts\nafter one step")
    fig.suptitle(_wrap(title, preset.width, STYLE["figure.titlesize"]))
    bottom = ax
    if strip is not None:
        strip.set_ylim(0, 1)
        strip.set_yticks([0.5], [f"≤ {ROUNDING_LEVEL:g}"])
        strip.tick_params(axis="y", length=0)
        strip.set_title("at rounding level (equal in double precision)", fontsize=SMALLEST_TEXT, loc="left")
        ax.tick_params(labelbottom=False)
        bottom = strip
    bottom.set_xlabel("learning rate $\\rho$")
    handles = [_method_handle(m, _wrap(labels[m], preset.width - 0.6, SMALLEST_TEXT)) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=1)
    _fit_height(fig, [ax], _single_axes_height(preset))
    return fig


def _single_axes_height(preset: Preset) -> float:
    """A lone panel's plotting area: about 3:5 in a column, no taller than 2.8 in across a page."""
    return min(0.55 * preset.width, 2.8)


# --- why: a swept property, and profiles across problems --------------------------------------------


def why_figure(
    table: pd.DataFrame, slopes: pd.DataFrame, title: str, preset: str = "two_column"
) -> plt.Figure:
    """Tuned iterations to the tolerance against a swept target property (`ngbench.why`), a panel per
    chart, a line per method: the median over the successful runs with its 90 % interval, a × in a
    strip above where no run succeeded at that value. Each panel notes the fitted slopes. Theory
    (`ngbench.theory`), in the method's colour: a dashed line where it gives an exact count (at the step
    size it names), a dash-dotted line of its slope through the method's last median where it gives a slope
    only (an asymptotic statement)."""
    with plt.rc_context(STYLE):
        return _why_figure(table, slopes, title, PRESETS[preset])


def _why_figure(table, slopes, title, preset: Preset):
    charts = sorted(table["parameterization"].unique())
    methods = _ordered(table["method"].unique())
    field = str(table["field"].iloc[0])
    positive = bool((table["value"] > 0).all())
    fig, axes = _panels(len(charts), preset)
    finite = table["median_iters"].to_numpy(dtype=float)
    missing = bool((table["successes"] == 0).any())
    strip = NO_SUCCESS_STRIP if missing else 0.0
    theory = table["theory_iters"].to_numpy(dtype=float) if "theory_iters" in table else np.array([])
    low, high = _log_limits(
        [finite, table["median_iters_high"].to_numpy(dtype=float), np.maximum(theory, 1.0)],
        [],
        headroom=strip,
    )
    theory_kinds: set[str] = set()
    for ax, chart in zip(axes, charts, strict=True):
        in_chart = table[table["parameterization"] == chart]
        on_top = blended_transform_factory(ax.transData, ax.transAxes)
        notes = []
        for row_number, method in enumerate(methods):
            rows = in_chart[in_chart["method"] == method].sort_values("value")
            if rows.empty:
                continue
            style = method_style(method)
            ok = rows["successes"] > 0
            medians = rows.loc[ok, "median_iters"].to_numpy(dtype=float)
            bounds = rows.loc[ok, ["median_iters_low", "median_iters_high"]].to_numpy(dtype=float)
            has_interval = ~np.isnan(bounds).any(axis=1)
            ax.plot(
                rows.loc[ok, "value"],
                medians,
                color=style["color"],
                marker=style["marker"],
                linestyle=style["linestyle"],
            )
            if has_interval.any():
                values = rows.loc[ok, "value"].to_numpy(dtype=float)[has_interval]
                ax.errorbar(
                    values,
                    medians[has_interval],
                    yerr=[
                        medians[has_interval] - bounds[has_interval, 0],
                        bounds[has_interval, 1] - medians[has_interval],
                    ],
                    fmt="none",
                    ecolor=style["color"],
                    elinewidth=0.8,
                    capsize=2,
                )
            if (~ok).any():
                ax.plot(
                    rows.loc[~ok, "value"],
                    np.full(int((~ok).sum()), 1.0 - strip * (row_number + 0.5) / len(methods)),
                    transform=on_top,
                    linestyle="none",
                    marker=FAILURE_MARKER,
                    markersize=4.5,
                    markeredgewidth=1.1,
                    color=style["color"],
                )
            fitted = slopes[(slopes["parameterization"] == chart) & (slopes["method"] == method)]
            if len(fitted) and np.isfinite(fitted["slope"].iloc[0]):
                row = fitted.iloc[0]
                interval = f"[{row['slope_low']:.2f}, {row['slope_high']:.2f}]"
                notes.append(f"{style['label']} slope {row['slope']:.2f} {interval}")
            drawn = _draw_theory(ax, rows, fitted, medians, style["color"], positive)
            theory_kinds.update(drawn)
        if missing:
            ax.plot([0, 1], [1.0 - strip] * 2, color="0.5", linewidth=0.5, transform=ax.transAxes)
        if positive:
            ax.set_xscale("log")
        ax.set_yscale("log")
        heading = chart if not notes else chart + "\n" + _pack(notes, preset.width / len(axes), SMALLEST_TEXT)
        ax.set_title(heading)
        if _is_last_row(ax, len(charts)):
            ax.set_xlabel(field.replace("_", " "))
    axes[0].set_ylim(low, high)
    for ax in axes:
        ax.tick_params(labelleft=ax.get_subplotspec().is_first_col())
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("median iterations (tuned)")
    fig.suptitle(_wrap(title, preset.width, STYLE["figure.titlesize"]))
    handles = [_method_handle(m) for m in methods]
    handles += [
        Line2D([], [], color="0.3", linewidth=THEORY_WIDTH, linestyle=THEORY_STYLES[kind], label=label)
        for kind, label in THEORY_LABELS.items()
        if kind in theory_kinds
    ]
    if missing:
        handles.append(
            Line2D([], [], color="0.2", marker=FAILURE_MARKER, linestyle="none", label="no run succeeded")
        )
    _figure_legend(fig, handles, preset.width)
    _fit_height(fig, axes, preset.axes_height)
    return fig


# Thin and dotted or dash-dotted, so that no method's own line style (GD's is dashed) reads as theory.
THEORY_WIDTH = 1.1
THEORY_STYLES = {"exact": (0, (1, 1.2)), "slope": (0, (5, 1.5, 1, 1.5))}
THEORY_LABELS = {
    "exact": "theory: exact count at the step it names (median over starts)",
    "slope": "theory: slope only (asymptotic), through the last median",
}


def _draw_theory(ax, rows, fitted, medians, color, positive) -> set[str]:
    """One method's theory line in a why-panel (see `why_figure`); the kinds drawn."""
    exact = rows["theory_iters"].to_numpy(dtype=float) if "theory_iters" in rows else np.array([])
    if exact.size and np.isfinite(exact).any():
        keep = np.isfinite(exact)
        # A start within the tolerance counts as one iteration on a log axis, as in the slopes.
        ax.plot(
            rows["value"].to_numpy(dtype=float)[keep],
            np.maximum(exact[keep], 1.0),
            color=color,
            linewidth=THEORY_WIDTH,
            linestyle=THEORY_STYLES["exact"],
        )
        return {"exact"}
    slope = float(fitted["theory_slope"].iloc[0]) if len(fitted) and "theory_slope" in fitted else math.nan
    ok = rows["successes"] > 0
    if not (math.isfinite(slope) and positive and ok.any()):
        return set()
    # Through the largest value reached: an asymptotic slope says least about the smallest values.
    values = rows["value"].to_numpy(dtype=float)
    anchor_x, anchor_y = float(rows.loc[ok, "value"].iloc[-1]), float(medians[-1])
    xs = np.array([float(values.min()), float(values.max())])
    ax.plot(
        xs,
        anchor_y * (xs / anchor_x) ** slope,
        color=color,
        linewidth=THEORY_WIDTH,
        linestyle=THEORY_STYLES["slope"],
    )
    return {"slope"}


def profile_figure(
    performance: pd.DataFrame, data: pd.DataFrame, title: str, preset: str = "two_column"
) -> plt.Figure:
    """Dolan–Moré performance profiles (top) and Moré–Wild data profiles (bottom) of every method,
    a column per cost axis (`ngbench.profiles`)."""
    with plt.rc_context(STYLE):
        return _profile_figure(performance, data, title, PRESETS[preset])


def _profile_figure(performance, data, title, preset: Preset):
    costs = list(dict.fromkeys(performance["cost"]))
    methods = _ordered(performance["method"].unique())
    fig, axes = plt.subplots(
        2,
        len(costs),
        figsize=(preset.width, 2 * (preset.axes_height + 1.5) + 2.5),
        layout="constrained",
        squeeze=False,
        sharey=True,
    )
    for column, cost in enumerate(costs):
        top, bottom = axes[0, column], axes[1, column]
        for method in methods:
            style = method_style(method)
            rows = performance[(performance["cost"] == cost) & (performance["method"] == method)]
            top.step(
                rows["tau"],
                rows["fraction"],
                where="post",
                color=style["color"],
                linestyle=style["linestyle"],
            )
            rows = data[(data["cost"] == cost) & (data["method"] == method)]
            shown = rows[rows["budget"] > 0]
            bottom.step(
                shown["budget"],
                shown["fraction"],
                where="post",
                color=style["color"],
                linestyle=style["linestyle"],
            )
        top.set_xscale("log", base=2)
        top.set_title(cost)
        top.set_xlabel("τ (cost / cheapest)")
        bottom.set_xscale("log")
        bottom.set_xlabel(f"budget ({cost})")
        for ax in (top, bottom):
            ax.set_ylim(-0.03, 1.03)
            ax.tick_params(labelleft=column == 0)
    axes[0, 0].set_ylabel("share within τ")
    axes[1, 0].set_ylabel("share solved")
    fig.suptitle(_wrap(title, preset.width, STYLE["figure.titlesize"]))
    _figure_legend(fig, [_method_handle(m, marker=False) for m in methods], preset.width)
    _fit_height(fig, list(axes.ravel()), preset.axes_height)
    return fig
