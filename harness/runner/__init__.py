"""The on-device runner: standard library, numpy and one runtime, nothing else.

It is pushed to a device as files (see bundle.py) and run in a fresh process per job:
    python3 -m harness.runner JOB.json OUT.json
It times one model under one runtime and writes one JSON result; statistics are computed later by
the harness, never on the device. This package must not import anything from the rest of harness.
"""

# The job and result formats this runner speaks.
# 1: one input per model (from the eval data or the model's own shape).
# 2: the job may list `inputs` ([{name, shape, dtype, low, high}]) resolved on the host; every input
#    is fed (any count and dtype), eval .npz files may hold one array per input name; the result
#    carries `inputs` (name, shape, dtype as fed); non-finite outputs fail the job.
# 3: mode "pair": the job's model and partner_model_path (partner_inputs) timed in alternating blocks
#    in one process; the result adds partner_latency_ns, pair_blocks and partner (inputs, first inference).
RUNNER_PROTOCOL_VERSION = 3
