"""PLAN: profiles -> configs -> jobs, checked before the first job runs.

`plan(profiles, seed)` is the one entry point: it resolves each profile's matrix into configs
(configs.py), orders them into jobs (jobs.py) and validates the model files and their data
(validate.py: every input of every model resolved, a model file's counts) and applies the profile's
declared [[pairs]] (pairs.py); every problem is reported together as one ProfileError, before any job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ProfileError
from ..profiles import format_problems, is_model_file
from .configs import Config, resolve_configs
from .jobs import JobSpec, job_dict, plan_jobs
from .pairs import apply_pairs
from .validate import load_manifest_or_none, validate_models

if TYPE_CHECKING:
    from ..profiles import Profile

__all__ = ["Config", "JobSpec", "job_dict", "plan", "plan_jobs", "resolve_configs", "validate_models"]


def plan(profiles: list[Profile], seed: int) -> tuple[dict[str, list[Config]], dict[str, list[JobSpec]]]:
    """Configs and jobs per profile name; raises ProfileError listing every problem found."""
    problems: list[str] = []
    manifest = load_manifest_or_none(problems) if any(
        not is_model_file(str(m)) for p in profiles for m in p.matrix["models"]) else None
    configs: dict[str, list[Config]] = {}
    jobs: dict[str, list[JobSpec]] = {}
    for prof in profiles:
        cs = resolve_configs(prof.name, prof.matrix, manifest, problems, f"{prof.path} [matrix] models")
        if not cs and not problems:
            problems.append(f"{prof.path}: the matrix selects no config (check models, runtimes, precisions)")
        cs = validate_models(cs, problems, prof.matrix, f"{prof.path} [matrix]")
        cs = apply_pairs(cs, prof.pairs, problems, str(prof.path))
        configs[prof.name] = cs
        jobs[prof.name] = plan_jobs(cs, prof.matrix, seed)
    if problems:
        raise ProfileError(format_problems(problems))
    return configs, jobs
