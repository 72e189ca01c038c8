"""Solver-job params written before a setting existed still read back as the job they ran."""

from __future__ import annotations

from ngbench.jobs import JobSpec
from tests.test_jobs import small_job


def test_params_without_a_gradient_or_stop_setting_are_an_exact_gradient_job_run_to_its_budget():
    params = small_job([0.1, 0.2]).to_params()
    older = {key: value for key, value in params.items() if key not in ("gradient", "stop_at_target")}
    job = JobSpec.from_params(older)
    assert job == JobSpec.from_params({**params, "gradient": "exact", "stop_at_target": False})
    assert job.to_params()["gradient"] == "exact" and job.to_params()["stop_at_target"] is False
