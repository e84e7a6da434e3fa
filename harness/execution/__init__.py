"""EXECUTION: jobs -> devices -> records on disk.

session.py runs or resumes a run (lock, signals, run.json); fleet.py opens, probes and closes the
devices; device_loop.py runs one device's jobs with the retry/skip policy; writer.py appends records
and keeps run.json; secrets.py keeps secrets out of both.

The package itself imports nothing, so a device module may use secrets.py without pulling in the
run lifecycle.
"""
