"""Methods: update rules on chart coordinates, each one self-describing `Method` object in `REGISTRY`.

A method is a preconditioner of the gradient (one a target offers: `PRECONDITIONERS`), an optional
stateful transform after it (`TRANSFORMS`: heavy-ball momentum, Adam's moments), hyperparameters
with defaults, a step-size schedule (`Schedule`), and its display name and style. Its `update` gives
θₜ₊₁ = θₜ − ρₜ·step by default; a method with its own rule (L-BFGS's line search) overrides
`advance`. The runner owns the loop, so every target and chart shares one. The `StepContext`
carries what a method may need beyond the state: the per-run random generators of a stochastic
gradient, the per-run memory of a stateful method (its optax-like state) and the iteration number.
The runner drops a stopped run's rows from it along with its state.

A method replaces its memory arrays and never writes into them: when a batched step raises, the
runner computes it again run by run from the memory it had before (see `ngbench.runner`).
Config entries, variant names and their checks: `make_method`, `method_named`,
`method_specification_problems` (docs/extending.md, "A new method").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ngbench import portable
from ngbench.charts import Chart
from ngbench.targets.base import Target


@dataclass
class StepContext:
    rngs: list | None = None  # one numpy Generator per active run, for stochastic gradients
    memory: dict[str, np.ndarray] = field(default_factory=dict)  # arrays with a leading run axis
    iteration: int = 0

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the runs selected by the boolean mask `rows`."""
        if self.rngs is not None:
            self.rngs = [rng for rng, kept in zip(self.rngs, rows, strict=True) if kept]
        self.memory = {name: value[rows] for name, value in self.memory.items()}

    def run(self, index: int) -> StepContext:
        """The context of run `index` alone: its generator and its rows of memory."""
        return StepContext(
            rngs=None if self.rngs is None else [self.rngs[index]],
            memory={name: value[index : index + 1] for name, value in self.memory.items()},
            iteration=self.iteration,
        )

    def join(self, parts: list[StepContext]) -> None:
        """Become the context of the runs of `parts`, in order: contexts from `run` after their step."""
        if self.rngs is not None:
            self.rngs = [rng for part in parts for rng in part.rngs]
        names = parts[0].memory if parts else self.memory
        self.memory = {
            name: np.concatenate([part.memory[name] for part in parts]) if parts else self.memory[name][:0]
            for name in names
        }


Direction = Callable[[Target, Chart, np.ndarray, np.ndarray, StepContext], np.ndarray]


def _rngs(context: StepContext | None):
    return None if context is None else context.rngs


def gradient(target: Target, chart: Chart, theta, canonical, context: StepContext | None = None):
    """∇_θℒ = Jᵀ ∇_cℒ: plain gradient descent, which depends on the chart."""
    return chart.pullback_gradient(theta, target.estimate_grad(canonical, _rngs(context)))


def natural_gradient(target: Target, chart: Chart, theta, canonical, context: StepContext | None = None):
    """F_θ⁻¹ ∇_θℒ with the Fisher of the optimised distribution, pulled back to the chart."""
    return chart.natural_gradient(
        theta, canonical, target.estimate_grad(canonical, _rngs(context)), target.fisher
    )


def empirical_fisher_gradient(target: Target, chart: Chart, theta, canonical, context=None):
    """Preconditioned by the empirical Fisher of the per-datum scores (Kunstner et al.'s ablation)."""
    return target.empirical_fisher_direction(chart, theta, canonical, _rngs(context))


def complete_data_gradient(target: Target, chart: Chart, theta, canonical, context=None):
    """Preconditioned by the complete-data Fisher with the data's responsibilities: ρ = 1 is one EM step."""
    return chart.generic_natural_gradient(
        theta, canonical, target.grad(canonical), target.complete_data_fisher
    )


def newton(target: Target, chart: Chart, theta, canonical, context=None):
    """H_θ⁻¹ ∇_θℒ on an affine chart, where H_θ = JᵀHJ exactly (a curved chart adds Σₖ gₖ∇²cₖ)."""
    return target.newton_direction(chart, theta, canonical, _rngs(context))


# What a target can precondition the gradient with, and the direction each gives on a chart. A
# target offers a subset (`Target.curvatures`); a method is available wherever its preconditioner is.
PRECONDITIONERS: dict[str, Direction] = {
    "none": gradient,
    "fisher": natural_gradient,
    "empirical_fisher": empirical_fisher_gradient,
    "complete_data_fisher": complete_data_gradient,
    "hessian": newton,
}


@dataclass(frozen=True)
class Hyperparameter:
    """A method's setting a config row may change: its default and the interval it must lie in."""

    default: float
    low: float = -np.inf
    high: float = np.inf
    low_open: bool = False  # True: the value must be > low (else ≥ low)
    high_open: bool = True  # True: the value must be < high (else ≤ high)
    integer: bool = False
    meaning: str = ""

    def problem(self, value) -> str | None:
        """Why `value` is not allowed, or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            return f"{value!r} is not a finite number"
        if self.integer and value != int(value):
            return f"{value!r} must be an integer"
        too_low = value <= self.low if self.low_open else value < self.low
        too_high = value >= self.high if self.high_open else value > self.high
        if too_low or too_high:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{value!r} is outside {left}{self.low:g}, {self.high:g}{right} ({self.meaning})"
        return None


def _unit(meaning: str, default: float) -> Hyperparameter:
    return Hyperparameter(default, 0.0, 1.0, low_open=False, high_open=True, meaning=meaning)


# ---------------------------------------------------------------------------------------------------
# Stateful transforms applied after the preconditioner: (direction, memory, settings, t) → step.
# Each keeps its state in `StepContext.memory` under its own keys (arrays with a leading run axis),
# replaced, never written into, so the runner can redo a step run by run.


def heavy_ball(direction, memory: dict, settings: dict, t: int) -> np.ndarray:
    """Polyak's heavy ball: v ← β v + d, step v (θ ← θ − ρ v); v₀ = 0, so the first step is d."""
    velocity = memory.get("velocity")
    velocity = direction if velocity is None else settings["beta"] * velocity + direction
    memory["velocity"] = velocity
    return velocity


def adam_moments(direction, memory: dict, settings: dict, t: int) -> np.ndarray:
    """Adam's bias-corrected moments (Kingma & Ba 2015) of the direction."""
    beta1, beta2 = settings["beta1"], settings["beta2"]
    first, second = memory.get("adam_first"), memory.get("adam_second")
    if first is None:  # the first step: m₀ = v₀ = 0 (made only then, not as a default every step)
        first, second = np.zeros_like(direction), np.zeros_like(direction)
    # m ← β₁m + (1 − β₁)d, v ← β₂v + (1 − β₂)d², step m̂/(√v̂ + ε): the same operations in the same
    # order as the plain expressions, into four arrays instead of a dozen temporaries (a full-covariance
    # state at d = 100 is 10⁴ numbers a run). New moment arrays: the memory's are never written into.
    scratch = np.multiply(direction, 1.0 - beta1)
    first = np.multiply(first, beta1)
    first += scratch
    np.square(direction, out=scratch)
    scratch *= 1.0 - beta2
    second = np.multiply(second, beta2)
    second += scratch
    memory["adam_first"], memory["adam_second"] = first, second
    step = np.divide(second, 1.0 - portable.integer_power(beta2, t + 1))  # v̂
    np.sqrt(step, out=step)
    step += settings["epsilon"]
    np.divide(first, 1.0 - portable.integer_power(beta1, t + 1), out=scratch)  # m̂
    return np.divide(scratch, step, out=step)


TRANSFORMS: dict[str, tuple[Callable, dict[str, Hyperparameter]]] = {
    "heavy_ball": (heavy_ball, {"beta": _unit("the velocity's decay β", 0.9)}),
    "adam_moments": (
        adam_moments,
        {
            "beta1": _unit("the first moment's decay β₁", 0.9),
            "beta2": _unit("the second moment's decay β₂", 0.999),
            "epsilon": Hyperparameter(1e-8, 0.0, np.inf, low_open=True, meaning="Adam's ε"),
        },
    ),
}


# ---------------------------------------------------------------------------------------------------
# Step-size schedules: ρₜ = ρ · warm-up(t) · decay(t), and optionally Polyak–Ruppert averaging.


@dataclass(frozen=True)
class Schedule:
    """ρₜ = ρ · min(1, (t + 1)/W) · (1 + t/τ)^(−κ) for step t = 0, 1, …, each factor optional.

    The decay is Robbins–Monro's (t + τ)^(−κ) of Hoffman et al. (2013), scaled by τ^κ so that ρ stays
    the first step and one learning-rate grid serves constant and decaying steps alike. With
    `average`, the iterate the runner records (and evaluates, and stops on) is the running mean
    θ̄ₜ = (θ₀ + … + θₜ)/(t + 1) of the iterates the method takes (Polyak & Juditsky 1992), in the
    chart's coordinates; the method's own iterate is kept in its memory.
    """

    warmup_steps: int = 0
    decay_tau: float | None = None
    decay_kappa: float | None = None
    average: bool = False

    @property
    def constant(self) -> bool:
        return self.warmup_steps == 0 and self.decay_tau is None

    def factor(self, t: int) -> float:
        """ρₜ/ρ at step t (0-based); portable powers, so every CPU takes the same steps."""
        factor = 1.0
        if self.warmup_steps:
            factor = min(1.0, (t + 1) / self.warmup_steps)
        if self.decay_tau is not None:
            ratio = np.array([1.0 + t / self.decay_tau])
            factor *= float(portable.exp(-self.decay_kappa * portable.log(ratio))[0])
        return factor

    def name_parts(self) -> list[str]:
        parts = []
        if self.decay_tau is not None:
            parts += ["decay", "tau", _value_text(self.decay_tau), "kappa", _value_text(self.decay_kappa)]
        if self.warmup_steps:
            parts += ["warmup", "steps", _value_text(self.warmup_steps)]
        if self.average:
            parts.append("average")
        return parts

    def label(self) -> str:
        parts = []
        if self.decay_tau is not None:
            parts.append(f"ρ(1+t/{_value_text(self.decay_tau)})^−{_value_text(self.decay_kappa)}")
        if self.warmup_steps:
            parts.append(f"warm-up {self.warmup_steps}")
        if self.average:
            parts.append("averaged")
        return ", ".join(parts)


SCHEDULE_FIELDS = {
    "decay": {
        "tau": Hyperparameter(1.0, 0.0, np.inf, low_open=True, meaning="the decay's offset τ"),
        "kappa": Hyperparameter(
            0.6, 0.0, 1.0, low_open=True, high_open=False, meaning="the decay's exponent κ"
        ),
    },
    "warmup": {
        "steps": Hyperparameter(10, 1, np.inf, integer=True, meaning="the warm-up's length"),
    },
}


def schedule_problems(spec) -> list[tuple[str, str]]:
    """(dotted field inside `schedule`, problem) of a schedule mapping; empty if it is valid."""
    if not isinstance(spec, dict):
        return [("", f"{spec!r} is not a mapping of decay, warmup and average")]
    problems = []
    for key, value in spec.items():
        if key == "average":
            if not isinstance(value, bool):
                problems.append(("average", f"{value!r} is not true or false"))
            continue
        fields = SCHEDULE_FIELDS.get(key)
        if fields is None:
            problems.append((key, f"unknown schedule part (known: average, {', '.join(SCHEDULE_FIELDS)})"))
            continue
        if not isinstance(value, dict):
            problems.append((key, f"{value!r} is not a mapping of {', '.join(fields)}"))
            continue
        for name in value:
            if name not in fields:
                problems.append((f"{key}.{name}", f"unknown setting (known: {', '.join(fields)})"))
            elif (problem := fields[name].problem(value[name])) is not None:
                problems.append((f"{key}.{name}", problem))
    return problems


def make_schedule(spec: dict | None) -> Schedule:
    spec = spec or {}
    decay = {name: s.default for name, s in SCHEDULE_FIELDS["decay"].items()} | spec.get("decay", {})
    warmup = spec.get("warmup")
    return Schedule(
        warmup_steps=int(({"steps": SCHEDULE_FIELDS["warmup"]["steps"].default} | warmup)["steps"])
        if warmup is not None
        else 0,
        decay_tau=float(decay["tau"]) if "decay" in spec else None,
        decay_kappa=float(decay["kappa"]) if "decay" in spec else None,
        average=bool(spec.get("average", False)),
    )


def _value_text(value) -> str:
    """A number as it reads in a method's name: shortest round-trip form, path-safe ('1e-08', '0.99')."""
    if isinstance(value, (int, np.integer)) or (
        isinstance(value, float) and value.is_integer() and abs(value) < 1e15
    ):
        return str(int(value))
    return repr(float(value)).replace("+", "")


# ---------------------------------------------------------------------------------------------------
# The method object.


@dataclass(frozen=True)
class Method:
    """One optimiser: a preconditioned direction, an optional stateful transform, a step-size
    schedule, and what the tables and figures call it.

    `init`/`update` follow optax's GradientTransformation, batched over runs: the state is
    `StepContext.memory` (arrays with a leading run axis, which the runner compacts when runs stop),
    empty at the start (`init`) and filled by the first `update`. `update` returns the next θ; the
    default is θ − ρₜ·step, and a method with its own update rule (a line search) overrides
    `advance`. Calling the method gives its step direction alone (the update's step before ρₜ).
    """

    name: str  # the name in tables, file contents and figures
    base: str  # the registry entry it was made from (== name for the registered defaults)
    preconditioner: str
    transform: str | None = None
    settings: dict = field(default_factory=dict)  # every hyperparameter's value, defaults included
    schedule: Schedule = Schedule()
    label: str = ""  # short display name (legends, table headers)
    long_name: str = ""  # said once in a legend where the panel has room
    style: dict = field(default_factory=dict)  # colour (colour-blind safe), marker, linestyle
    solves_per_step: int = 0  # linear solves per step: a Fisher, a Hessian or a surrogate
    deterministic_only: bool = False  # True: the method needs exact gradients (a line search)
    affine_only: bool = False  # True: its curvature pulls back as JᵀHJ only on affine charts
    own_settings: dict[str, Hyperparameter] = field(default_factory=dict)  # besides the transform's

    @property
    def hyperparameters(self) -> dict[str, Hyperparameter]:
        transform = TRANSFORMS[self.transform][1] if self.transform else {}
        return transform | self.own_settings

    def init(self, context: StepContext) -> StepContext:
        context.memory = {}
        return context

    def __call__(self, target: Target, chart: Chart, theta, canonical, context: StepContext | None = None):
        direction = PRECONDITIONERS[self.preconditioner](target, chart, theta, canonical, context)
        if self.transform is None:
            return direction
        transform = TRANSFORMS[self.transform][0]
        return transform(direction, context.memory, self.settings, context.iteration)

    def update(self, target: Target, chart: Chart, theta, canonical, context: StepContext, rates):
        """θₜ₊₁ of every active run from θₜ (`canonical` its canonical state) and ρ (`rates`, (B, 1))."""
        if self.schedule.constant and not self.schedule.average:
            return self.advance(target, chart, theta, canonical, context, rates)
        rates = rates * self.schedule.factor(context.iteration)
        if not self.schedule.average:
            return self.advance(target, chart, theta, canonical, context, rates)
        # θ is the running mean; the method steps from its own iterate, kept in memory.
        own = context.memory.get("iterate")
        if own is None:
            own = theta
        else:
            canonical = chart.to_canonical(own)
        nxt = self.advance(target, chart, own, canonical, context, rates)
        context.memory["iterate"] = nxt
        return theta + (nxt - theta) / (context.iteration + 2)

    def advance(self, target, chart, theta, canonical, context, rates):
        return theta - rates * self(target, chart, theta, canonical, context)


@dataclass(frozen=True)
class LBFGS(Method):
    """L-BFGS (Nocedal 1980) on the chart's gradient with a batched backtracking (Armijo) line search.

    Memory per run: the last `memory` pairs sᵢ = θᵢ₊₁ − θᵢ, yᵢ = ∇θᵢ₊₁ − ∇θᵢ (a pair is kept only
    when sᵢᵀyᵢ > 0, so the inverse-Hessian estimate stays positive definite), the previous θ and ∇.
    The two-loop recursion gives p ≈ H⁻¹∇ (scaled by sᵀy/yᵀy of the newest pair; p = ∇ before the
    first). The line search tries α = ρₜ, ρₜ·shrink, … and takes the first α with
    ℒ(θ − αp) ≤ ℒ(θ) − c·α·∇ᵀp (and θ − αp in the domain); a run whose every trial fails stays put.
    One gradient per step and no linear solve; the trials are loss evaluations (not in the cost
    columns, which count gradients and solves).
    """

    def advance(self, target, chart, theta, canonical, context, rates):
        memory, settings = context.memory, self.settings
        grad = gradient(target, chart, theta, canonical, context)
        runs, size = theta.shape
        slots = int(settings["memory"])
        s = memory.get("lbfgs_s", np.zeros((runs, slots, size)))
        y = memory.get("lbfgs_y", np.zeros((runs, slots, size)))
        rho = memory.get("lbfgs_rho", np.zeros((runs, slots)))
        if "lbfgs_theta" in memory:
            new_s, new_y = theta - memory["lbfgs_theta"], grad - memory["lbfgs_grad"]
            curvature = np.einsum("bk,bk->b", new_s, new_y)
            scale = np.sqrt(np.einsum("bk,bk->b", new_s, new_s) * np.einsum("bk,bk->b", new_y, new_y))
            accepted = curvature > 1e-12 * scale
            # Newest pair last; runs whose pair fails the curvature condition keep their memory.
            s = np.where(accepted[:, None, None], np.concatenate([s[:, 1:], new_s[:, None]], axis=1), s)
            y = np.where(accepted[:, None, None], np.concatenate([y[:, 1:], new_y[:, None]], axis=1), y)
            safe = np.where(accepted, curvature, 1.0)
            rho = np.where(
                accepted[:, None], np.concatenate([rho[:, 1:], (1.0 / safe)[:, None]], axis=1), rho
            )
        direction = two_loop(grad, s, y, rho)
        slope = np.einsum("bk,bk->b", grad, direction)
        # Not a descent direction (rounding in a near-singular memory): fall back to the gradient.
        fallback = ~(slope > 0)
        direction = np.where(fallback[:, None], grad, direction)
        slope = np.where(fallback, np.einsum("bk,bk->b", grad, grad), slope)
        loss = target.loss_at(chart, theta, canonical)
        step = rates[:, 0].copy()
        pending = np.ones(runs, dtype=bool)
        for _ in range(int(settings["backtracks"])):
            rows = np.flatnonzero(pending)
            trial = theta[rows] - step[rows, None] * direction[rows]
            trial_canonical = chart.to_canonical(trial)
            inside = chart.in_domain(trial) & target.in_domain(trial_canonical)
            trial_loss = target.loss_at(chart, trial, trial_canonical)
            armijo = inside & (trial_loss <= loss[rows] - settings["armijo"] * step[rows] * slope[rows])
            pending[rows[armijo]] = False
            if not pending.any():
                break
            step[pending] *= settings["shrink"]
        step[pending] = 0.0
        memory["lbfgs_s"], memory["lbfgs_y"], memory["lbfgs_rho"] = s, y, rho
        memory["lbfgs_theta"], memory["lbfgs_grad"] = theta, grad
        memory["lbfgs_accepted_step"] = step  # read by tests: the α each run took
        return theta - step[:, None] * direction


def two_loop(grad: np.ndarray, s: np.ndarray, y: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """H⁻¹∇ by Nocedal's two-loop recursion over pairs (runs, m, k), oldest first; ρᵢ = 0 marks an
    empty slot (a no-op in both loops)."""
    q = grad.copy()
    slots = s.shape[1]
    alpha = np.zeros((grad.shape[0], slots))
    for i in reversed(range(slots)):
        alpha[:, i] = rho[:, i] * np.einsum("bk,bk->b", s[:, i], q)
        q = q - alpha[:, i, None] * y[:, i]
    newest_yy = np.einsum("bk,bk->b", y[:, -1], y[:, -1])
    has_pair = rho[:, -1] > 0
    gamma = np.where(has_pair, 1.0 / np.where(has_pair, rho[:, -1] * newest_yy, 1.0), 1.0)
    r = gamma[:, None] * q
    for i in range(slots):
        beta = rho[:, i] * np.einsum("bk,bk->b", y[:, i], r)
        r = r + s[:, i] * (alpha[:, i] - beta)[:, None]
    return r


# ---------------------------------------------------------------------------------------------------
# The registry: a new method is one block here (see docs/extending.md).

_PALETTE = (  # seaborn's "colorblind" palette (the Okabe–Ito colours)
    ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc")
    + ("#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9")
)


def _style(color: int, marker: str, linestyle) -> dict:
    return {"color": _PALETTE[color], "marker": marker, "linestyle": linestyle}


REGISTRY: dict[str, Method] = {
    method.name: method
    for method in (
        Method("gd", "gd", "none", label="GD", style=_style(3, "o", (0, (4, 1.5)))),
        Method("ngd", "ngd", "fisher", label="NGD", style=_style(0, "s", "-"), solves_per_step=1),
        Method(
            "ef",
            "ef",
            "empirical_fisher",
            label="EF",
            long_name="EF (empirical Fisher)",
            style=_style(2, "^", (0, (5, 1.5, 1, 1.5))),
            solves_per_step=1,
        ),
        Method(
            "em",
            "em",
            "complete_data_fisher",
            label="EM",
            long_name="EM (complete-data Fisher)",
            style=_style(4, "D", (0, (1, 1.2))),
            solves_per_step=1,
        ),
        Method(
            "newton",
            "newton",
            "hessian",
            label="Newton",
            style=_style(9, "P", (0, (8, 1.5, 2, 1.5))),
            solves_per_step=1,
            affine_only=True,
        ),
        Method(
            "adam",
            "adam",
            "none",
            transform="adam_moments",
            label="Adam",
            style=_style(1, "v", (0, (4, 1.2, 1, 1.2, 1, 1.2))),
        ),
        Method(
            "momentum",
            "momentum",
            "none",
            transform="heavy_ball",
            label="Momentum",
            long_name="Momentum (heavy ball)",
            style=_style(5, "<", (0, (2, 1, 2, 3))),
        ),
        Method(
            "ngd_momentum",
            "ngd_momentum",
            "fisher",
            transform="heavy_ball",
            label="NGD+mom.",
            long_name="NGD with heavy-ball momentum",
            style=_style(6, ">", (0, (6, 1, 1, 1))),
            solves_per_step=1,
        ),
        LBFGS(
            "lbfgs",
            "lbfgs",
            "none",
            label="L-BFGS",
            long_name="L-BFGS (Armijo backtracking)",
            style=_style(8, "*", (0, (1, 1, 4, 1))),
            deterministic_only=True,
            own_settings={
                "memory": Hyperparameter(5, 1, 100, high_open=False, integer=True, meaning="pairs kept"),
                "armijo": Hyperparameter(1e-4, 0.0, 1.0, low_open=True, meaning="Armijo's c"),
                "shrink": Hyperparameter(0.5, 0.0, 1.0, low_open=True, meaning="the backtracking factor"),
                "backtracks": Hyperparameter(
                    30, 1, 200, high_open=False, integer=True, meaning="trials per step"
                ),
            },
        ),
    )
}
REGISTRY = {
    name: replace(m, settings={k: h.default for k, h in m.hyperparameters.items()})
    for name, m in REGISTRY.items()
}
METHODS = REGISTRY  # the registered methods with their default settings, in the tables' order


def method_specification_problems(entry) -> list[tuple[str, str]]:
    """(dotted field inside the config's method entry, problem) — empty if the entry is valid.

    An entry is a registered name ("adam") or a one-key mapping {name: {hyperparameter: value, …,
    schedule: {…}}}. Fields are relative to the entry: "beta2", "schedule.decay.kappa"; "" is the entry.
    """
    if isinstance(entry, str):
        return [] if entry in REGISTRY else [("", _unknown(entry))]
    if not isinstance(entry, dict) or len(entry) != 1:
        return [("", f"{entry!r} is neither a method's name nor a one-key mapping {{method: {{settings}}}}")]
    ((base, settings),) = entry.items()
    if base not in REGISTRY:
        return [("", _unknown(base))]
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        return [(base, f"{settings!r} is not a mapping of hyperparameters")]
    known = REGISTRY[base].hyperparameters
    problems = []
    for key, value in settings.items():
        if key == "schedule":
            problems += [(f"schedule.{f}".rstrip("."), p) for f, p in schedule_problems(value)]
        elif key not in known:
            names = ", ".join([*known, "schedule"])
            problems.append((key, f"{base!r} has no hyperparameter {key!r} (known: {names})"))
        elif (problem := known[key].problem(value)) is not None:
            problems.append((key, problem))
    return problems


def _unknown(name) -> str:
    return f"unknown method {name!r} (known: {', '.join(REGISTRY)})"


def make_method(entry) -> Method:
    """The method a config entry describes (see `method_specification_problems`), with its name.

    The name of a variant is its base's, then each setting given, in sorted order, as `_key_value`,
    then its schedule's parts: {adam: {beta2: 0.99}} → adam_beta2_0.99; {ngd: {schedule: {decay:
    {tau: 10, kappa: 0.6}, average: true}}} → ngd_decay_tau_10_kappa_0.6_average. Names are stable
    (the same entry, in any key order, gives the same name) and path-safe ([a-z0-9_.-]).
    """
    if isinstance(entry, str):
        return method_named(entry)
    ((base, given),) = entry.items()
    given = dict(given or {})
    schedule = make_schedule(given.pop("schedule", None))
    registered = REGISTRY[base]
    parts = [base]
    for key in sorted(given):
        parts += [key, _value_text(given[key])]
    parts += schedule.name_parts()
    notes = [f"{key}={_value_text(given[key])}" for key in sorted(given)]
    if schedule.label():
        notes.append(schedule.label())
    label = f"{registered.label} ({', '.join(notes)})" if notes else registered.label
    settings = registered.settings | {key: float(value) for key, value in given.items()}
    for key, value in given.items():
        if registered.hyperparameters[key].integer:
            settings[key] = int(value)
    return replace(
        registered,
        name="_".join(parts),
        settings=settings,
        schedule=schedule,
        label=label,
        long_name=label if notes else registered.long_name,
    )


def method_named(name: str) -> Method:
    """The method a name stands for: a registered one, or a variant whose name `make_method` wrote.

    A variant's name spells its settings, so job params, tables and figures carry a name alone and
    every one of them rebuilds the same method from it.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    entry = _entry_of(name)
    method = make_method(entry) if entry is not None and not method_specification_problems(entry) else None
    if method is None or method.name != name:
        raise ValueError(_unknown(name))
    return method


def _entry_of(name: str) -> dict | None:
    """The config entry a variant's name was made from, or None if it is no variant's name."""
    base = _base_of(name)
    if base is None:
        return None
    tokens = name[len(base) + 1 :].split("_")
    given, schedule = {}, {}
    try:
        while tokens:
            token = tokens.pop(0)
            if token == "decay":
                assert tokens.pop(0) == "tau"
                tau = _number(tokens.pop(0))
                assert tokens.pop(0) == "kappa"
                schedule["decay"] = {"tau": tau, "kappa": _number(tokens.pop(0))}
            elif token == "warmup":
                assert tokens.pop(0) == "steps"
                schedule["warmup"] = {"steps": _number(tokens.pop(0))}
            elif token == "average":
                schedule["average"] = True
            else:
                given[token] = _number(tokens.pop(0))
    except (AssertionError, IndexError, ValueError):
        return None
    return {base: given | ({"schedule": schedule} if schedule else {})}


def _number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else float(text)


def _base_of(name: str) -> str | None:
    """The registered method a (variant's) name starts with: the longest that fits."""
    return max((b for b in REGISTRY if name == b or name.startswith(f"{b}_")), key=len, default=None)


def ordered(names) -> list[str]:
    """Method names in the registry's order, each variant after its base (variants by name)."""
    rank = {name: index for index, name in enumerate(REGISTRY)}

    def key(name: str):
        base = _base_of(name)
        return (rank.get(base, len(rank)), name != base, name)

    return sorted(set(names), key=key)


# Variants of one method share its colour and take a marker and dash pattern from these, in the
# order of their names among the variants drawn together; none is a registered method's marker or
# the failure mark "x".
VARIANT_MARKERS = ("p", "h", "d", "8", "H")
VARIANT_DASHES = ((0, (3, 1, 1, 1, 1, 1)), (0, (6, 2)), (0, (1, 2)), (0, (3, 3)), (0, (7, 1, 1, 1)))


def styles(names) -> dict[str, dict]:
    """Each method's style ({color, marker, linestyle, label, long_name}) among the methods `names`."""
    found = {}
    counts: dict[str, int] = {}
    for name in ordered(names):
        method = method_named(name)
        style = dict(method.style)
        if name != method.base:
            index = counts.get(method.base, 0)
            counts[method.base] = index + 1
            style["marker"] = VARIANT_MARKERS[index % len(VARIANT_MARKERS)]
            style["linestyle"] = VARIANT_DASHES[index % len(VARIANT_DASHES)]
        found[name] = style | {"label": method.label, "long_name": method.long_name or method.label}
    return found


@dataclass(frozen=True)
class _FromDirection(Method):
    """A bare direction function as a method: θ ← θ − ρ·direction(θ) (tests and the audit)."""

    direction: Direction | None = None

    def __call__(self, target, chart, theta, canonical, context=None):
        return self.direction(target, chart, theta, canonical, context)


def as_method(method: Method | Direction) -> Method:
    if isinstance(method, Method):
        return method
    name = getattr(method, "__name__", "direction")
    return _FromDirection(name, name, "none", direction=method)


def available_methods(target: Target) -> list[str]:
    """The registered methods whose preconditioner the target offers."""
    return [name for name, method in REGISTRY.items() if method.preconditioner in target.curvatures]


def unavailability(method: Method, target: Target, charts: dict[str, Chart]) -> str | None:
    """Why `method` cannot run on `target` (its gradient estimator set) in `charts`, or None."""
    if method.preconditioner not in target.curvatures:
        return (
            f"{method.base!r} preconditions with the {method.preconditioner!r} curvature, which target "
            f"{target.name!r} does not offer (it offers: {', '.join(target.curvatures)}; methods "
            f"available: {', '.join(available_methods(target))})"
        )
    if method.deterministic_only and target.stochastic:
        return (
            f"{method.base!r} needs exact gradients (its line search compares losses): not "
            f"{target.name!r} with sampled ones"
        )
    curved = [name for name, chart in charts.items() if method.affine_only and not chart.affine]
    if curved:
        return (
            f"{method.base!r} needs affine charts (its Hessian pulls back as JᵀHJ only there); "
            f"not {', '.join(curved)}"
        )
    return None
