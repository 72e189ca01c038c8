"""Figures a journal accepts: TrueType fonts, the preset's printed width, text ≥ 7 pt, deterministic
bytes, metadata naming the release and the config row; every method a style of its own."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import unicodedata
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml

from ngbench import __version__, plots
from ngbench.audit import one_step_spread
from ngbench.experiments import DEFAULT_FIGURE_SIZES, parse_config
from ngbench.methods import METHODS
from ngbench.targets import make_target

REPO = Path(__file__).resolve().parents[1]
QUADRATIC = {
    "name": "quadratic",
    "eigenvalues": [1.0, 10.0],
    "angle_degrees": 30.0,
    "optimum": [1.0, 0.5],
    "linear_map": [[2.0, 0.0], [1.0, 0.5]],
}


def test_every_method_has_a_style_of_its_own():
    assert set(plots.METHOD_STYLE) == set(METHODS)
    for key in ("color", "marker", "linestyle", "label"):
        values = [repr(style[key]) for style in plots.METHOD_STYLE.values()]
        assert len(set(values)) == len(values), key
    # The failure mark is nobody's marker, so a failure is never read as a method's point.
    assert plots.FAILURE_MARKER not in {style["marker"] for style in plots.METHOD_STYLE.values()}


def test_citation_names_the_package_release():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == project["version"] == __version__
    assert citation["license"] == project["license"]


def test_the_config_chooses_presets_and_the_schema_knows_them():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for kind in DEFAULT_FIGURE_SIZES:
        assert set(schema["properties"]["figure_sizes"]["properties"][kind]["enum"]) == set(plots.PRESETS)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plan = parse_config(config)
    assert set(plan.figure_sizes) == set(DEFAULT_FIGURE_SIZES)
    assert parse_config({**config, "figure_sizes": {"paths": "two_column"}}).figure_sizes == {
        **DEFAULT_FIGURE_SIZES,
        "paths": "two_column",
    }


def test_rows_with_monte_carlo_gradients_get_no_invariance_audit():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plan = parse_config(config)
    audited = {name for name, e in plan.experiments.items() if e.audited}
    assert "logistic_vi" in audited and "gaussian_nd_d100" in audited
    assert "logistic_vi_mc" not in audited  # the same charts and methods, with {mc: 10} gradients
    assert plan.experiments["logistic_vi_mc"].gradient == {"mc": 10}


# --- synthetic results to draw ---------------------------------------------------------------------


def trajectories(steps: int = 40) -> pd.DataFrame:
    """Two charts, GD, NGD and Adam, four seeds; GD diverges in one chart, Adam in both from seed 3."""
    rows = []
    for chart in ("alpha", "beta"):
        for method, rate in (("gd", 0.8), ("ngd", 0.3), ("adam", 0.9)):
            for seed in range(4):
                gaps = 10.0 * rate ** np.arange(steps + 1) * (1 + seed)
                status = "converged" if gaps[-1] <= 1e-8 else "budget"
                end = steps
                if (method == "gd" and chart == "beta") or (method == "adam" and seed == 3):
                    status, end = "diverged", 3
                for it in range(end + 1):
                    rows.append((chart, method, 0.1, seed, it, gaps[it], status))
    columns = ["parameterization", "method", "lr", "seed", "iter", "gap", "status"]
    return pd.DataFrame(rows, columns=columns)


def best(data: pd.DataFrame) -> pd.DataFrame:
    """Every cell tuned to lr 0.1 on both folds of the cross-fit (seeds 0–3: even and odd)."""
    cells = data[["parameterization", "method"]].drop_duplicates()
    return cells.merge(pd.DataFrame({"fold": ["even", "odd"]}), how="cross").assign(best_lr=0.1)


def summaries(data: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (chart, method, seed), run in data.groupby(["parameterization", "method", "seed"]):
        for tolerance in (1e-2, 1e-8):
            hit = run.loc[run["gap"] <= tolerance, "iter"]
            rows.append((chart, method, 0.1, seed, tolerance, hit.min() if len(hit) else np.nan))
    return pd.DataFrame(rows, columns=["parameterization", "method", "lr", "seed", "tolerance", "hit_iter"])


def stats(data: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for chart in ("alpha", "beta"):
        for method in ("gd", "ngd", "adam"):
            for lr in (0.01, 0.1, 1.0):
                art = np.inf if (lr == 1.0 or (method == "gd" and chart == "beta")) else 10 / lr
                rows.append((chart, method, lr, 1e-8, art))
    return pd.DataFrame(rows, columns=["parameterization", "method", "lr", "tolerance", "art"])


def all_figures(preset_panels: str, preset_single: str, only: str | None = None) -> dict[str, object]:
    """Every figure kind drawn from synthetic results, or only the one named `only` (each drawing
    lays its figure out several times: ~2 s a figure on this machine)."""
    builders = figure_builders(preset_panels, preset_single)
    names = builders if only is None else [only]
    return {name: (builders[name][0](), builders[name][1]) for name in names}


def figure_builders(preset_panels: str, preset_single: str) -> dict[str, tuple]:
    """Each figure kind's (function drawing it, its preset)."""
    data = trajectories()
    target = make_target(QUADRATIC)
    runs = []
    for method, lr, rate in (("gd", 0.15, 0.85), ("ngd", 1.0, 0.0), ("gd", 0.05, 0.95)):
        states = np.array([-3.0, 3.0]) + (1 - rate ** np.arange(30))[:, None] * np.array([4.0, -2.5])
        gaps = target.loss(states) - target.optimum_loss
        runs.append(
            pd.DataFrame(
                {"parameterization": "identity", "method": method, "lr": lr, "seed": 0}
                | {"iter": np.arange(30), "gap": gaps, "status": "converged"}
                | {"theta_0": states[:, 0], "theta_1": states[:, 1]}
            )
        )
    paths = plots.select_paths(pd.concat(runs), "identity", 0, {"gd": 0.15, "ngd": 1.0}, 1e-8)

    def audit():
        return one_step_spread(
            make_target(QUADRATIC),
            np.array([-3.0, 3.0]),
            ["identity", "linear"],
            ["gd", "ngd"],
            np.logspace(-4, 0, 5),
        )

    return {
        "paths": (
            lambda: plots.plot_paths(target, paths, "A quadratic, long title " * 3, 1e-8, preset_single),
            preset_single,
        ),
        "convergence": (
            lambda: plots.convergence_figure(data, best(data), 40, 1e-8, "convergence", preset_panels),
            preset_panels,
        ),
        "lr_sensitivity": (
            lambda: plots.lr_sensitivity_figure(stats(data), 1e-8, "sensitivity", preset_panels),
            preset_panels,
        ),
        "ecdf": (
            lambda: plots.ecdf_figure(summaries(data), best(data), 40, "ECDF", preset_single),
            preset_single,
        ),
        "invariance": (lambda: plots.invariance_figure(audit(), "audit", preset_single), preset_single),
        "why": (lambda: plots.why_figure(*sweep(), "why", preset_panels), preset_panels),
        "profiles": (lambda: plots.profile_figure(*profiles(), "profiles", preset_panels), preset_panels),
    }


def sweep() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A condition-number sweep: GD's iterations grow as κ, NGD's stay put, GD fails at κ = 64."""
    rows, slopes = [], []
    for chart in ("mean_prec", "natural"):
        for method, power in (("gd", 1.0), ("ngd", 0.0)):
            for kappa in (1.0, 4.0, 16.0, 64.0):
                iterations = 20 * kappa**power
                successes = 0 if (method == "gd" and kappa == 64.0) else 8
                rows.append((chart, method, "condition_number", kappa, successes, iterations))
            slopes.append((chart, method, power, power - 0.1, power + 0.1))
    table = pd.DataFrame(
        rows, columns=["parameterization", "method", "field", "value", "successes", "median_iters"]
    )
    table.loc[table["successes"] == 0, "median_iters"] = np.nan
    table = table.assign(
        median_iters_low=table["median_iters"] * 0.8, median_iters_high=table["median_iters"] * 1.3
    )
    columns = ["parameterization", "method", "slope", "slope_low", "slope_high"]
    return table, pd.DataFrame(slopes, columns=columns)


def profiles() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Performance profiles on a base-2 axis of τ, data profiles on a log axis of budgets."""
    performance, data = [], []
    for cost in ("iterations", "gradients"):
        for method, shift in (("gd", 2.0), ("ngd", 1.0)):
            for tau in (1.0, 2.0, 4.0, 8.0, 16.0):
                performance.append((cost, method, tau, min(1.0, tau / (8 * shift))))
            for budget in (1.0, 10.0, 100.0, 1000.0, 1e5):
                data.append((cost, method, budget, min(1.0, np.log10(budget) / (2 * shift))))
    return (
        pd.DataFrame(performance, columns=["cost", "method", "tau", "fraction"]),
        pd.DataFrame(data, columns=["cost", "method", "budget", "fraction"]),
    )


def pdf_glyphs(path: Path) -> tuple[float, list[tuple[str, float, float]]]:
    """The page width in points, and (character, font size, ink height) of every drawn character, in
    points: the height of its glyph's box across the line it sits on, whichever way the text runs."""
    import ctypes

    import pypdfium2
    import pypdfium2.raw as raw

    document = pypdfium2.PdfDocument(path)
    page = document[0]
    text = page.get_textpage()
    glyphs = []
    for i in range(text.count_chars()):
        character = chr(raw.FPDFText_GetUnicode(text.raw, i))
        if character.isspace():
            continue
        left, right, bottom, top = (ctypes.c_double() for _ in range(4))
        raw.FPDFText_GetCharBox(text.raw, i, left, right, bottom, top)
        upright = abs(np.sin(raw.FPDFText_GetCharAngle(text.raw, i))) < 0.5
        ink = top.value - bottom.value if upright else right.value - left.value
        glyphs.append((character, raw.FPDFText_GetFontSize(text.raw, i), ink))
    width = page.get_size()[0]
    document.close()
    return width, glyphs


def script_form_of(character: str) -> str | None:
    """The character a Unicode superscript or subscript is a small copy of ('⁸' → '8'), else None."""
    kind, _, code = unicodedata.decomposition(character).partition(" ")
    return chr(int(code, 16)) if kind in ("<super>", "<sub>") else None


def ink_at_smallest_text(characters: set[str], tmp_path: Path) -> dict[str, float]:
    """The ink height of each character set as plain text at `plots.SMALLEST_TEXT`, in points."""
    if not characters:
        return {}
    figure = plt.figure(figsize=(3.0, 1.0))
    figure.text(0.05, 0.5, " ".join(sorted(characters)), fontsize=plots.SMALLEST_TEXT)
    plots.save_figure(figure, tmp_path / "reference.png", tmp_path / "reference.pdf")
    return {c: ink for c, _, ink in pdf_glyphs(tmp_path / "reference.pdf")[1]}


def text_below_smallest(glyphs: list[tuple[str, float, float]], tmp_path: Path) -> list:
    """Every character printed smaller than `plots.SMALLEST_TEXT`: set at a smaller size (mathtext
    sets a script at 0.7 of its text's size), or a Unicode script ('10⁻⁸', 'θ₀', 'κ²'), whose
    glyph is a shrunk copy of a character at the text's size; it is measured by its ink against
    that character's at the smallest size."""
    bases = {script_form_of(c) for c, _, _ in glyphs} - {None}
    reference = ink_at_smallest_text(bases, tmp_path)
    small = []
    for character, size, ink in glyphs:
        base = script_form_of(character)
        if size < plots.SMALLEST_TEXT - 1e-3:
            small.append((character, round(size, 2)))
        elif base is not None and ink < 0.95 * reference[base]:
            small.append((character, round(size * ink / reference[base], 2)))
    return small


def pdf_metadata(path: Path) -> dict[str, str]:
    import pypdfium2

    document = pypdfium2.PdfDocument(path)
    metadata = document.get_metadata_dict(skip_empty=True)
    document.close()
    return metadata


@pytest.mark.parametrize("presets", [("two_column", "one_column"), ("one_column", "two_column")])
def test_figures_print_at_their_preset_with_truetype_fonts_and_readable_text(tmp_path, presets):
    source = plots.provenance({"experiments.row": {"steps": 40}})
    for name, (figure, preset) in all_figures(*presets).items():
        png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
        plots.save_figure(figure, png, pdf, name, source)
        data = pdf.read_bytes()
        # Type 42 (TrueType) fonts only: no Type 3 font dictionary at all.
        assert b"/Type3" not in data and b"/FontFile2" in data, name
        width, glyphs = pdf_glyphs(pdf)
        assert width == pytest.approx(plots.PRESETS[preset].width * 72, abs=0.5), name
        # Every character at ≥ 7 pt, the exponent of a tick label and a symbol's index too.
        assert not text_below_smallest(glyphs, tmp_path), (name, text_below_smallest(glyphs, tmp_path))
        # And no tick label larger than the style's: plain text needs no room for an exponent.
        for ax in figure.axes:
            for axis, size in ((ax.xaxis, "xtick.labelsize"), (ax.yaxis, "ytick.labelsize")):
                labels = axis.get_ticklabels(which="both")
                assert {label.get_fontsize() for label in labels} <= {plots.STYLE[size]}, name
        metadata = pdf_metadata(pdf)
        assert metadata["Creator"] == f"ngbench {__version__}" and metadata["Title"] == name
        assert re.fullmatch(
            r"ngbench [0-9.]+; config row experiments\.row \(settings sha256 [0-9a-f]{12}\)",
            metadata["Subject"],
        )
        assert b"CreationDate" not in data and b"matplotlib" not in data.lower()


def test_the_size_check_sees_mathtext_and_unicode_scripts(tmp_path):
    """What the check above measures: a mathtext exponent and a Unicode index are under 7 pt; a
    tick label and a letter at 7 pt are not."""
    figure = plt.figure(figsize=(3.0, 1.0))
    for y, text in ((0.2, "$10^{-8}$"), (0.5, "θ₀"), (0.8, "10 ℒ − ℒ* κ")):
        figure.text(0.05, y, text, fontsize=plots.SMALLEST_TEXT)
    # Written as matplotlib writes it, without the adjustments `save_figure` makes.
    with plt.rc_context(plots.STYLE):
        figure.savefig(tmp_path / "scripts.pdf")
    small = text_below_smallest(pdf_glyphs(tmp_path / "scripts.pdf")[1], tmp_path)
    assert sorted(c for c, _ in small) == sorted("−8₀")
    assert all(size < 0.8 * plots.SMALLEST_TEXT for _, size in small), small
    # `save_figure` sets the mathtext label large enough for its exponent to be 7 pt.
    plots.save_figure(figure, tmp_path / "saved.png", tmp_path / "saved.pdf")
    assert sorted(c for c, _ in text_below_smallest(pdf_glyphs(tmp_path / "saved.pdf")[1], tmp_path)) == ["₀"]


def test_log_ticks_are_plain_numbers():
    values = (1e-8, 2e-3, 0.05, 1.0, 300.0, 1e4, 2.5e-16, -0.5)
    expected = ["1e-8", "2e-3", "0.05", "1", "300", "1e4", "2.5e-16", "-0.5"]
    assert [plots.plain_number(v) for v in values] == [e.replace("-", "−") for e in expected]


def test_pdffonts_reports_no_type_3(tmp_path):
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (poppler-utils) is not installed; the byte check above still runs")
    figure, _ = all_figures("two_column", "one_column", only="convergence")["convergence"]
    plots.save_figure(figure, tmp_path / "f.png", tmp_path / "f.pdf")
    plt.close("all")
    listing = subprocess.run(
        ["pdffonts", str(tmp_path / "f.pdf")], capture_output=True, text=True, check=True
    )
    fonts = listing.stdout.splitlines()[2:]
    assert fonts and all("CID TrueType" in line for line in fonts), listing.stdout


def test_figures_are_the_same_bytes_every_time(tmp_path):
    outputs = []
    for attempt in range(2):
        figure, _ = all_figures("two_column", "one_column", only="convergence")["convergence"]
        png, pdf = tmp_path / f"{attempt}.png", tmp_path / f"{attempt}.pdf"
        plots.save_figure(figure, png, pdf, "t", "s")
        plt.close("all")
        outputs.append((png.read_bytes(), pdf.read_bytes()))
    assert outputs[0] == outputs[1]


def test_failed_runs_are_marked_apart_from_the_band_of_the_others():
    data = trajectories()
    adam = data[(data["parameterization"] == "alpha") & (data["method"] == "adam")]
    gaps, failed_at = plots.run_gaps(adam, 40, floor=1e-10)
    assert list(failed_at) == [-1, -1, -1, 4]
    assert np.isinf(gaps[3, 4:]).all()
    quantiles = plots.gap_quantiles(adam, 40, floor=1e-10)
    assert np.isfinite(quantiles).all()  # the diverged run does not drag the band to +∞
    everyone_failed = data[(data["parameterization"] == "beta") & (data["method"] == "gd")]
    assert np.isnan(plots.gap_quantiles(everyone_failed, 40, floor=1e-10)).all()
    # The panel says so: GD in chart beta is drawn only as failure marks, and named with when.
    figure = plots.convergence_figure(data, best(data), 40, 1e-8, "t")
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible() and ax.get_title()]
    assert any("GD ρ 0.1: 0/4, all failed by step 4" in title for title in titles), titles
    assert len(figure.legends) == 1 and not any(ax.get_legend() for ax in figure.axes)


def test_the_audit_draws_rounding_in_a_strip_and_names_steps_that_leave_the_domain():
    audit = pd.DataFrame(
        {
            "method": ["gd"] * 3 + ["ngd"] * 3,
            "lr": [1e-3, 1e-2, 1e-1] * 2,
            "spread": [1e-3, 1e-2, np.nan, 1e-15, 2e-15, 1e-15],
        }
    )
    figure = plots.invariance_figure(audit, "audit")
    main, strip = figure.axes
    assert [t.get_text() for t in strip.get_yticklabels()] == ["≤ 1e-13"]
    low, high = main.get_ylim()
    assert 1e-4 < low < 1e-3 < 1e-2 < high < 1e-1  # no empty decades down to the rounding level
    labels = [t.get_text().replace("\n", " ") for t in figure.legends[0].get_texts()]
    assert labels == ["GD (ρ ≥ 0.1: a step leaves some chart's domain)", "NGD"]


def test_a_path_figure_says_which_learning_rate_is_the_fastest():
    target = make_target(QUADRATIC)
    rows = []
    for lr, hit in ((0.1, 30), (0.15, 12), (0.2, 40)):
        gaps = np.where(np.arange(50) >= hit, 1e-9, 1.0)
        rows.append(
            pd.DataFrame(
                {"parameterization": "identity", "method": "gd", "lr": lr, "seed": 0, "iter": np.arange(50)}
                | {"gap": gaps, "status": "converged", "theta_0": 0.0, "theta_1": 0.0}
            )
        )
    data = pd.concat(rows)
    assert plots.select_paths(data, "identity", 0, {"gd": 0.15}, 1e-8)["gd"].fastest
    slower = plots.select_paths(data, "identity", 0, {"gd": 0.1}, 1e-8)["gd"]
    assert not slower.fastest and slower.grid_size == 3
    figure = plots.plot_paths(target, {"gd": slower}, "t", 1e-8)
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert any("GD at ρ = 0.1:" in label and "fastest" not in label for label in labels), labels
