"""Jobs: in which order to measure. A job is one fresh runner process: a config in one mode (perf,
accuracy, profile) and one trial. Perf trials are interleaved across configs (A B A B ...), or
shuffled with a recorded seed, so that drift on a noisy machine hits every config alike; "ceilings"
adds the device-ceiling models (harness/roofline) to those rounds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .configs import Config


@dataclass(frozen=True)
class JobSpec:
    config: Config
    mode: str
    trial: int

    @property
    def key(self) -> tuple[str, str, str, int]:
        """What identifies a job across an interrupted run and its resume."""
        return (self.config.device, self.config.config_id, self.mode, self.trial)

    def label(self) -> str:
        c = self.config
        return f"{c.device}: {c.model} {c.runtime} {c.precision} t{c.threads} {self.mode} #{self.trial + 1}"


def plan_jobs(configs: list[Config], matrix: dict[str, Any], seed: int) -> list[JobSpec]:
    """Perf trials interleaved across configs (round-robin, or shuffled per round), then the
    accuracy and profiling passes (one each per config; they are not timed)."""
    jobs: list[JobSpec] = []
    rng = random.Random(seed)
    modes = matrix["modes"]
    perf = list(configs)
    if "ceilings" in modes:  # device ceilings (harness/roofline): perf jobs interleaved with the models
        from ..roofline.ceilings import ceiling_configs
        perf += ceiling_configs(configs, matrix)
    if "perf" in modes or "ceilings" in modes:
        for trial in range(int(matrix["trials"])):
            round_ = list(perf if "perf" in modes else perf[len(configs):])
            if matrix.get("order") == "shuffled":
                rng.shuffle(round_)
            jobs.extend(JobSpec(c, "perf", trial) for c in round_)
    if "accuracy" in modes:
        jobs.extend(JobSpec(c, "accuracy", 0) for c in configs if c.eval_path is not None)
    if "profile" in modes:
        jobs.extend(JobSpec(c, "profile", 0) for c in configs if c.runtime == "onnxruntime")
    return jobs


def job_dict(spec: JobSpec, matrix: dict[str, Any], model_path: str, eval_path: str | None,
             cores: list[int] | None) -> dict[str, Any]:
    """The JSON the runner reads (paths as the device sees them); `inputs`: every model input as
    resolved on the host (a job without it is an old one: the runner's single-input path)."""
    c = spec.config
    job = {
        "model_path": model_path, "runtime": c.runtime, "threads": c.threads,
        "inter_op_threads": matrix.get("inter_op_threads", 1), "mode": spec.mode,
        "eval_path": eval_path, "xnnpack": c.xnnpack, "cores": cores,
        "warmup": {"min_runs": matrix["warmup_runs"], "min_time_s": matrix["warmup_time_s"]},
        "measure": {"min_runs": matrix["min_runs"], "min_time_s": matrix["min_time_s"],
                    "max_time_s": matrix["max_time_s"], "target_rel_ci": matrix.get("target_rel_ci")},
    }
    if c.inputs:
        job["inputs"] = [r.job_entry() for r in c.inputs]
    return job
