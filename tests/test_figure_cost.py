"""What keeps a figure job cheap changes nothing a figure shows: the layout kept for both files is
the one the figure would be given anew, the texts enlarged for print are all of them, and the contour
surface evaluated in blocks is the same numbers; and the statistics job ranks without importing
scipy.stats, to the same ranks and Theil–Sen slopes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Text

from ngbench import plots
from ngbench.targets import make_target
from tests.test_figure_print import all_figures, figure_builders


def _positions(figure) -> np.ndarray:
    # As the layout set them (a colorbar keeps its aspect by shrinking within that box when drawn).
    return np.array([ax.get_position(original=True).bounds for ax in figure.axes if ax.get_visible()])


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("saved")


@pytest.fixture(scope="module")
def saved_figures(saved_folder):
    tmp = saved_folder
    figures = {}
    for name, (figure, _) in all_figures("two_column", "one_column").items():
        plots.save_figure(figure, tmp / f"{name}.png", tmp / f"{name}.pdf", name)
        figures[name] = figure
    yield figures
    plt.close("all")


def test_a_saved_figure_keeps_the_layout_a_fresh_layout_would_give(saved_figures):
    for name, figure in saved_figures.items():
        # Laid out once, before saving, and no engine left: neither file's draw moved anything, nor
        # drew the figure once more first.
        assert figure.get_layout_engine() is None, name
        kept = _positions(figure)
        # The same figure laid out again from scratch, as every draw did before: the same places.
        with plt.rc_context(plots.STYLE):
            figure.set_layout_engine(ConstrainedLayoutEngine())
            figure.set_dpi(plots.PNG_DPI)
            figure.get_layout_engine().execute(figure)
        assert np.abs(_positions(figure) - kept).max() * figure.get_figheight() < 0.01, name


def test_a_figure_without_its_placeholder_engine_saves_the_same_bytes(
    saved_figures, saved_folder, tmp_path, monkeypatch
):
    """`_keep_layout` removes the engine so that `savefig` skips its draw without rendering; the
    same figures kept with matplotlib's placeholder engine (`set_layout_engine("none")`, which
    `savefig` draws twice) give the same PNG and PDF bytes."""
    builders = figure_builders("two_column", "one_column")
    monkeypatch.setattr(plots, "_keep_layout", lambda figure: figure.set_layout_engine("none"))
    for name in ("convergence", "paths"):  # panels and log axes; contours and a colorbar
        figure = builders[name][0]()
        plots.save_figure(figure, tmp_path / f"{name}.png", tmp_path / f"{name}.pdf", name)
        assert figure.get_layout_engine() is not None  # the placeholder: the other path was taken
        for suffix in (".png", ".pdf"):
            kept = (saved_folder / f"{name}{suffix}").read_bytes()
            assert (tmp_path / f"{name}{suffix}").read_bytes() == kept, (name, suffix)


def test_the_texts_set_for_print_are_every_text_but_the_tick_labels(saved_figures):
    for name, figure in saved_figures.items():
        everything = set(figure.findobj(Text))  # lists (and makes) every tick: compared after it
        ticks = {
            label
            for ax in figure.axes
            for axis in (ax.xaxis, ax.yaxis)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks()
            for label in (tick.label1, tick.label2)
        }
        found = list(plots._texts_but_tick_labels(figure))
        assert len(found) == len(set(found)), name
        assert set(found) == everything - ticks, name


def test_a_contour_surface_in_blocks_is_the_loss_of_every_point():
    target = make_target(
        {"name": "mixture", "weight": 0.3, "var": 1.0, "means": [-1.0, 2.0], "n": 40, "data_seed": 0}
        | {"damping": 1e-3}
    )
    rng = np.random.default_rng(0)
    canonical = rng.uniform(-3.0, 3.0, size=(2 * plots.CONTOUR_BLOCK + 17, 2))
    blocked = plots._batched_loss(target, canonical)
    assert blocked.shape == (len(canonical),)
    np.testing.assert_array_equal(blocked, target.loss(canonical))


def test_batched_midranks_are_scipys_and_the_exact_ones_row_by_row():
    from scipy.stats import rankdata

    from ngbench.inference import midranks
    from ngbench.stats import batched_midranks

    rng = np.random.default_rng(3)
    for shape in [(1, 1), (3, 7), (40, 20), (4, 5, 9)]:
        values = rng.integers(-3, 4, size=shape).astype(float)  # many ties
        values[values == 3] = np.inf  # as the signed-rank key marks a failure
        ranks = batched_midranks(values)
        np.testing.assert_array_equal(ranks, rankdata(values, axis=-1, method="average"))
        for row, expected in zip(values.reshape(-1, shape[-1]), ranks.reshape(-1, shape[-1]), strict=True):
            assert [float(rank) for rank in midranks(list(row))] == expected.tolist()


def test_theil_sen_is_scipys_theilslopes():
    from scipy.stats import theilslopes

    from ngbench.inference import LEVEL
    from ngbench.why import theil_sen

    rng = np.random.default_rng(4)
    for size in (3, 5, 12, 40, 97):
        x = np.log(rng.choice([1.0, 2.0, 4.0, 8.0, 16.0, 100.0], size=size))  # ties in x
        y = np.log(np.maximum(np.round(rng.lognormal(3.0, 1.0, size=size)), 1.0))  # and in y
        if np.all(x == x[0]) or np.all(y == y[0]):
            continue
        expected = theilslopes(y, x, alpha=LEVEL)
        assert theil_sen(x, y) == (expected.slope, expected.low_slope, expected.high_slope), size
