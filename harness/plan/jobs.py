"""Jobs: in which order to measure. A job is one fresh runner process: a config in one mode (perf,
accuracy, profile) and one trial; a pair job (mode "pair", added by the pair rule) is the separable
twin's config with its standard twin as `partner`, both timed in one process.
Perf trials are interleaved across configs (A B A B ...), or
shuffled with a recorded seed, so that drift on a noisy machine hits every config alike; "ceilings"
adds the device-ceiling models (harness/roofline) to those rounds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .configs import Config

# A pair job: each twin timed for at least this long (or min_time_s when longer), in alternating blocks
# of PAIR_BLOCK_S. Blocks of 20-60 ms cancel the drift of a shared machine (seconds) and leave each
# model's caches warm (5 ms blocks slowed a 150 us LiteRT model by 13%: benchmarks/README.md).
PAIR_TWIN_TIME_S = 0.25
PAIR_BLOCK_S = 0.05


@dataclass(frozen=True)
class JobSpec:
    config: Config
    mode: str
    trial: int
    partner: Config | None = None   # mode "pair": the standard twin, timed in the same process

    @property
    def key(self) -> tuple[str, str, str, int]:
        """What identifies a job across an interrupted run and its resume."""
        return (self.config.device, self.config.config_id, self.mode, self.trial)

    def label(self) -> str:
        c = self.config
        mode = f"pair with {self.partner.model}" if self.partner is not None else self.mode
        return f"{c.device}: {c.model} {c.runtime} {c.precision} t{c.threads} {mode} #{self.trial + 1}"


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
             cores: list[int] | None, partner_path: str | None = None) -> dict[str, Any]:
    """The JSON the runner reads (paths as the device sees them); `inputs`: every model input as
    resolved on the host (a job without it is an old one: the runner's single-input path). A pair
    job adds the partner's model (`partner_path` on the device) and inputs, and its block length."""
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
    if spec.partner is not None:
        p = spec.partner
        job["partner_model_path"] = partner_path
        if p.inputs:
            job["partner_inputs"] = [r.job_entry() for r in p.inputs]
        job["pair_block_s"] = PAIR_BLOCK_S
        job["eval_path"] = None
        job["measure"] = {**job["measure"], "min_time_s": max(float(matrix["min_time_s"]), PAIR_TWIN_TIME_S),
                          "max_time_s": max(float(matrix["max_time_s"]), PAIR_TWIN_TIME_S),
                          "target_rel_ci": None}
    return job
