"""The reproducibility contract: same bits where the arithmetic allows, same printed numbers everywhere.

"Another CPU" is played on this one with numpy's `NPY_DISABLE_CPU_FEATURES`: with the AVX2 and
AVX-512 dispatch targets disabled, `np.exp`, `np.log`, `np.log1p` and `np.logspace` return other last
bits (checked below where this machine has them), as they do on a CPU without those extensions.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ngbench import contract, portable
from tests.test_faults import MIXTURE_SWEEP
from tests.test_workflow import REPO, TINY_CONFIG, write_config

ANOTHER_CPU = {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"}


def run_python(code: str, env: dict | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})},
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# --- ngbench.portable: accurate, and the same bits whatever numpy dispatches ------------------------


def ulps(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.abs(value - reference) / np.spacing(np.abs(reference))


def test_portable_exp_and_log_are_within_an_ulp_of_the_math_library():
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [rng.uniform(-700, 700, 50_000), rng.normal(size=50_000), 1e-9 * rng.normal(size=1000)]
    )
    assert ulps(portable.exp(x), np.exp(x)).max() <= 1.0
    positive = np.ldexp(rng.uniform(0.5, 1.0, 50_000), rng.integers(-1000, 1000, 50_000))
    assert ulps(portable.log(positive), np.log(positive)).max() <= 1.0
    small = np.concatenate([1e-12 * rng.normal(size=1000), rng.uniform(-0.999, 50, 50_000)])
    assert ulps(portable.log1p(small), np.log1p(small)).max() <= 2.0
    a, b = 30 * rng.normal(size=(2, 50_000))
    # Near a result of 0 the sum cancels: count ulps of the larger input, as for np.logaddexp.
    error = np.abs(portable.logaddexp(a, b) - np.logaddexp(a, b))
    assert (error / np.spacing(np.maximum(np.abs(a), np.abs(b)))).max() <= 4.0


def test_portable_functions_keep_the_special_values():
    with np.errstate(all="ignore"):
        x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 710.0, -746.0])
        np.testing.assert_array_equal(portable.exp(x), np.exp(x))
        y = np.array([0.0, -1.0, np.inf, np.nan, 5e-324, 1.0])
        np.testing.assert_array_equal(portable.log(y), np.log(y))
        z = np.array([-1.0, -2.0, np.inf, np.nan, 0.0, 1e-300])
        np.testing.assert_array_equal(portable.log1p(z), np.log1p(z))
        np.testing.assert_array_equal(
            portable.logaddexp(np.array([-np.inf, np.inf, -np.inf]), np.array([-np.inf, np.inf, 2.0])),
            [-np.inf, np.inf, 2.0],
        )


def test_scalar_constants_are_correctly_rounded():
    from decimal import Decimal

    cos, sin = portable.cos_sin_degrees(30.0)
    assert sin == 0.5 and cos == float(Decimal(3).sqrt() / 2)
    assert abs(portable.cos_sin_degrees(90.0)[0]) < 1e-39  # 40 digits of a zero
    assert portable.logspace(-3.0, 0.0, 4) == (0.001, 0.01, 0.1, 1.0)
    assert portable.integer_power(0.9, 3) == float(Decimal(0.9) ** 3)  # the binary 0.9, cubed
    np.testing.assert_array_equal(portable.log_spaced_integers(100, 5), [1, 3, 10, 31, 100])


def test_portable_hermite_gauss_integrates_normal_moments():
    for count in (5, 20, 80, 81):
        nodes, weights = portable.hermite_gauss(count)
        assert np.array_equal(nodes, -nodes[::-1])
        # E z^(2k) = (2k − 1)!! for the standard normal, exact up to degree 2·count − 1.
        for k, moment in ((0, 1.0), (1, 1.0), (2, 3.0), (3, 15.0), (4, 105.0)):
            assert weights @ nodes ** (2 * k) == pytest.approx(moment, rel=1e-13)


def test_portable_solve_matches_lapack_and_refuses_singular_systems():
    rng = np.random.default_rng(0)
    matrices = rng.normal(size=(100, 2, 2)) + 3 * np.eye(2)
    vectors = rng.normal(size=(100, 2))
    np.testing.assert_allclose(
        portable.solve(matrices, vectors), np.linalg.solve(matrices, vectors[..., None])[..., 0], rtol=1e-12
    )
    singular = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    with pytest.raises(np.linalg.LinAlgError):  # as LAPACK's solve: the runner ends that run as failed
        portable.solve(singular, np.ones((1, 2)))


PORTABLE_DIGEST = """
import hashlib, numpy as np
from ngbench import portable
rng = np.random.default_rng(7)
x = rng.uniform(-700, 700, 20_000)
y = np.ldexp(rng.uniform(0.5, 1, 20_000), rng.integers(-900, 900, 20_000))
parts = [portable.exp(x), portable.log(y), portable.log1p(x / 701), portable.logaddexp(x, x[::-1])]
print(hashlib.sha256(b"".join(p.tobytes() for p in parts)).hexdigest())
print(hashlib.sha256(np.exp(x).tobytes() + np.log(y).tobytes()).hexdigest())
"""


def test_portable_functions_give_the_same_bits_on_another_cpu():
    here = run_python(PORTABLE_DIGEST).split()
    there = run_python(PORTABLE_DIGEST, ANOTHER_CPU).split()
    assert here[0] == there[0]
    # Where this CPU has AVX-512, numpy's own functions differ: the emulation is real.
    if here[1] == there[1]:
        pytest.skip("numpy's exp and log agree with the emulated CPU here: nothing was emulated")


SOLVER_DIGEST = """
import hashlib, json, sys
from ngbench.experiments import parse_config
from ngbench.solve import solve_chart, reference_solution
config = json.loads(sys.argv[1])
plan = parse_config(config)
for name, experiment in plan.experiments.items():
    reference = reference_solution(experiment.target) if experiment.needs_reference else None
    for chart in experiment.parameterizations:
        solved = solve_chart(experiment.chart_params(chart), reference)
        digest = hashlib.sha256()
        for cell in solved.cells.values():
            digest.update(cell.result.loss.tobytes())
            digest.update(cell.result.states.tobytes())
        print(name, chart, digest.hexdigest())
"""

# Rows chosen for their chaos: GD past its stability limit in (μ, σ²), and the empirical Fisher
# near the mixture's saddle, both amplify a last-bit difference e-fold per step.
CHAOTIC_ROWS = {
    "tolerances": [1.0e-2, 1.0e-4],
    "experiments": {
        "gd_past_stability": {
            "target": {"name": "gaussian_1d", "mean": 3.0, "var": 0.1},
            "init": {"mean": {"uniform": [-5.0, 5.0]}, "var": {"loguniform": [0.1, 10.0]}},
            "parameterizations": ["mean_var", "mean_logstd", "mean_logvar", "natural", "expectation"],
            "methods": ["gd", "ngd"],
            "learning_rates": {"logspace": [-2.0, 0.3, 6]},
            "seeds": 6,
            "steps": 400,
        },
        "ef_near_the_saddle": {
            "target": MIXTURE_SWEEP,  # the default mixture_sweep row's
            "init": {"theta_0": {"uniform": [-3.0, 4.0]}, "theta_1": {"uniform": [-3.0, 4.0]}},
            "parameterizations": ["identity"],
            "methods": ["gd", "ngd", "ef", "em", "newton", "adam"],
            "learning_rates": {"logspace": [-2.0, 0.0, 4]},
            "seeds": 8,
            "steps": 300,
        },
        "rotated_quadratic": {
            "target": {
                "name": "quadratic",
                "eigenvalues": [1.0, 100.0],
                "angle_degrees": 20.0,
                "optimum": [0.0, 0.0],
                "linear_map": [[1.0, 0.0], [0.0, 0.1]],
            },
            "init": {"theta_0": {"uniform": [-5.0, 5.0]}, "theta_1": {"uniform": [-5.0, 5.0]}},
            "parameterizations": ["identity", "linear"],
            "methods": ["gd", "ngd", "newton", "adam"],
            "learning_rates": {"logspace": [-3.0, 0.3, 5]},
            "seeds": 4,
            "steps": 300,
        },
    },
}


@pytest.mark.slow
def test_low_dimensional_targets_compute_the_same_bits_on_another_cpu():
    import json

    argument = json.dumps(CHAOTIC_ROWS)
    code = SOLVER_DIGEST.replace("sys.argv[1]", repr(argument))
    here, there = run_python(code), run_python(code, ANOTHER_CPU)
    assert here.count("\n") == 8
    assert here == there


# --- the contract checker ------------------------------------------------------------------------

STATS = "experiment,method,lr,runs,successes,art,median_final_test_log_loss\nx,gd,0.1,10,3,12.5,0.0731\n"


@pytest.mark.parametrize(
    "edited,holds",
    [
        (STATS, True),
        (STATS.replace("0.0731", "0.07310000000000001"), True),  # rounding in a float
        (STATS.replace("0.0731", "0.073100001"), True),  # amplified rounding of a settled run
        (STATS.replace("0.0731", "0.07311"), False),  # a real change
        (STATS.replace(",3,", ",4,"), False),  # an integer
        (STATS.replace("12.5", "12.500001"), True),  # a ratio of counts, within tolerance
        (STATS.replace(",10,", ",10.0,"), True),  # the same whole number
        (STATS.replace(",10,", ",10.000001,"), False),  # not a whole number any more
        (STATS.replace("12.5", "inf"), False),
        (STATS.replace("gd", "ngd"), False),
        (STATS + "x,gd,0.2,10,3,12.5,0.0731\n", False),
        (STATS.replace("art,", "aRT,"), False),
    ],
    # Short ids: the CSV's newlines would be escaped to `\\n` in an id, which mutmut cannot select by.
    ids=lambda value: value if isinstance(value, bool) else f"{len(value)}chars",
)
def test_statistics_hold_floats_to_a_tolerance_and_everything_else_exactly(edited, holds):
    assert (contract.compare_csv(STATS, edited) == []) == holds


def figure_pixels(shift: float = 0.0, second_curve: bool = False) -> np.ndarray:
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    x = np.linspace(0, 10, 200)
    ax.plot(x, np.exp(-x / 3) + shift, label="GD, lr 0.1")
    if second_curve:
        ax.plot(x, np.exp(-x / 2), label="GD, lr 0.1")
    ax.set_ylim(0, 1.2)
    ax.legend()
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.int16)
    plt.close(fig)
    return pixels


def test_figures_allow_subpixel_moves_and_catch_real_changes():
    reference = figure_pixels()
    # 1e-3 of the axis is a third of a pixel: rounding-sized differences move antialiasing only.
    assert contract.compare_images(reference, figure_pixels(shift=1e-3)) == []
    assert contract.compare_images(reference, reference) == []
    assert contract.compare_images(reference, figure_pixels(shift=0.05)) != []  # the curve moved
    assert contract.compare_images(reference, figure_pixels(second_curve=True)) != []  # one more series


def test_pdf_figures_are_compared_by_text_and_rendered_pages(tmp_path):
    def pdf(label: str, slope: float = 1.0) -> bytes:
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], [0, slope], label=label)
        ax.set_ylim(0, 2)
        ax.legend()
        path = tmp_path / f"{label}.pdf"
        fig.savefig(path, metadata={"CreationDate": None})
        plt.close(fig)
        return path.read_bytes()

    assert contract.compare_pdfs(pdf("NGD, lr 1"), pdf("NGD, lr 1", slope=1 + 1e-9)) == []
    assert "text differs" in contract.compare_pdfs(pdf("NGD, lr 1"), pdf("NGD, lr 2"))[0]  # one digit
    assert contract.compare_pdfs(pdf("NGD, lr 1"), pdf("NGD, lr 1", slope=1.5)) != []  # the line moved


# --- end to end: regenerate as another CPU, and tamper with a committed number -------------------


@pytest.fixture(scope="module")
def two_cpus(tmp_path_factory):
    """The tiny config regenerated here and as another CPU."""
    trees = {}
    for name, env in (("here", {}), ("there", ANOTHER_CPU)):
        workdir = tmp_path_factory.mktemp(name)
        write_config(workdir, TINY_CONFIG)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "-s",
                str(REPO / "Snakefile"),
                "-d",
                str(workdir),
                "--cores",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, **env},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        trees[name] = workdir
    return trees


@pytest.mark.slow
def test_another_cpu_keeps_the_contract(two_cpus):
    findings = contract.compare_trees(two_cpus["here"], two_cpus["there"])
    text, holds = contract.report(findings)
    assert holds, text
    assert len(findings) > 40


@pytest.mark.slow
def test_low_dimensional_rows_are_byte_identical_on_another_cpu(two_cpus):
    for experiment in ("fig3_gaussian_vi", "tiny_sweep", "tiny_quadratic", "tiny_mixture"):
        for kind in ("stats", "tables"):
            for path in (two_cpus["here"] / "results" / kind).glob(f"{experiment}*"):
                assert (
                    path.read_bytes() == (two_cpus["there"] / path.relative_to(two_cpus["here"])).read_bytes()
                )
        for path in (two_cpus["here"] / "results" / "summaries" / experiment).glob("*.parquet"):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            other = two_cpus["there"] / path.relative_to(two_cpus["here"])
            assert digest == hashlib.sha256(other.read_bytes()).hexdigest(), path


@pytest.mark.slow
@pytest.mark.parametrize(
    "path,edit",
    [
        ("results/stats/tiny_sweep.csv", lambda text: text.replace(",3,", ",2,", 1)),
        ("results/tables/tiny_mixture.md", lambda text: text.replace("| 1 ", "| 2 ", 1)),
    ],
)
def test_a_changed_committed_number_breaks_the_contract(two_cpus, tmp_path, path, edit):
    committed = tmp_path / "committed"
    for directory in contract.CONTRACT_DIRECTORIES:
        shutil.copytree(two_cpus["here"] / directory, committed / directory)
    target = committed / path
    changed = edit(target.read_text())
    assert changed != target.read_text()
    target.write_text(changed)
    findings = contract.compare_trees(committed, two_cpus["there"])
    broken = [f.path for f in findings if not f.holds]
    assert broken == [path]


def test_nothing_to_compare_breaks_the_contract(tmp_path):
    findings = contract.compare_trees(tmp_path, tmp_path / "missing")
    assert findings and not any(f.holds for f in findings)
    done = subprocess.run(
        [sys.executable, "-m", "ngbench.contract", str(tmp_path / "a"), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert done.returncode == 1


@pytest.mark.slow
def test_the_checker_runs_from_the_command_line(two_cpus):
    done = subprocess.run(
        [sys.executable, "-m", "ngbench.contract", str(two_cpus["here"]), str(two_cpus["there"])],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the reproducibility contract holds" in done.stdout
