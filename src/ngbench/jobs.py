"""One solver job, typed: what `Experiment.job` hands the workflow and `ngbench.solve` reads back.

Snakemake passes a job its `params` as plain data and reruns the job when their text changes, so
the job travels as `JobSpec.to_params()` (the mapping solver jobs have always had) and is rebuilt
with `JobSpec.from_params` in the job. The learning rates are the grid's exact numbers, in grid
order: a run's learning rate is identified by its index in that grid (`lr_index`), never by a
float comparison; a tolerance-based match is only for a number a user typed (a figure's or a
claim's learning rate), to find the grid entry it means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ngbench.methods import ordered


@dataclass(frozen=True)
class JobSpec:
    """Every method of one (experiment, chart) over the row's learning rates × seeds."""

    experiment: str
    target: dict
    init: dict
    parameterization: str  # the chart (one concept, two names: README "Configuring experiments")
    methods: tuple[str, ...]  # in the registry's order (ngbench.methods.ordered)
    learning_rates: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    divergence_factor: float
    thin: int | None
    gradient: str | dict
    tolerances: tuple[float, ...]
    stop_at_target: bool

    def __post_init__(self):
        # Methods in the registry's order: reordering them in the config reruns nothing.
        object.__setattr__(self, "methods", tuple(ordered(self.methods)))

    def to_params(self) -> dict:
        """The job's Snakemake `params` (lists, not tuples: Snakemake compares their text)."""
        return {
            "experiment": self.experiment,
            "target": self.target,
            "init": self.init,
            "parameterization": self.parameterization,
            "methods": list(self.methods),
            "learning_rates": list(self.learning_rates),
            "seeds": list(self.seeds),
            "steps": self.steps,
            "divergence_factor": self.divergence_factor,
            "thin": self.thin,
            "gradient": self.gradient,
            "tolerances": list(self.tolerances),
            "stop_at_target": self.stop_at_target,
        }

    @classmethod
    def from_params(cls, params: dict) -> JobSpec:
        """The spec `to_params` wrote (params written before `stop_at_target` existed ran every run
        to its budget)."""
        return cls(
            experiment=params["experiment"],
            target=params["target"],
            init=params["init"],
            parameterization=params["parameterization"],
            methods=tuple(params["methods"]),
            learning_rates=tuple(float(lr) for lr in params["learning_rates"]),
            seeds=tuple(int(seed) for seed in params["seeds"]),
            steps=int(params["steps"]),
            divergence_factor=float(params["divergence_factor"]),
            thin=params.get("thin"),
            gradient=params.get("gradient", "exact"),
            tolerances=tuple(float(t) for t in params["tolerances"]),
            stop_at_target=bool(params.get("stop_at_target", False)),
        )

    def lr_index(self, lr: float) -> int:
        """The grid index of a learning rate taken from the grid (or a result file): exact, so two
        grid entries closer than any tolerance stay two."""
        return self.learning_rates.index(float(lr))

    def runs(self) -> tuple[np.ndarray, np.ndarray]:
        """(lr index, seed) of each run: learning-rate major, seed minor, as the solver orders them."""
        lr_indices = np.repeat(np.arange(len(self.learning_rates)), len(self.seeds))
        seeds = np.tile(np.array(self.seeds, dtype=np.int64), len(self.learning_rates))
        return lr_indices, seeds
