"""The one family of user-facing errors. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix: the message names the file, key or host and says what to do."""

    exit_code = 1


class ProfileError(HarnessError):
    """A device profile (TOML) is invalid."""


class ZooError(HarnessError):
    """The model zoo (zoo.toml, manifest, artifacts) is invalid or incomplete."""


class DeviceError(HarnessError):
    """A device cannot be reached or cannot run what it was asked to run."""


class ModelFileError(HarnessError):
    """A model file is missing, truncated or not the format its name says."""


class RunDirError(HarnessError):
    """A results folder is not a run, or its records cannot be read."""


# Exit codes (README, "Exit codes"): 0 all ok; 1 an error before any job ran, or a usage error of
# ours; 2 argparse's usage errors; 3 some jobs failed, timed out or were skipped (records kept);
# 4 a regression found by `compare` or `history check`; 130 interrupted.
EXIT_JOBS_FAILED = 3
EXIT_REGRESSION = 4


class JobsFailed(HarnessError):
    """The run finished but some jobs failed, timed out, were skipped or have no record; the records
    are kept and --resume runs the missing and skipped ones."""

    exit_code = EXIT_JOBS_FAILED


class RegressionFound(HarnessError):
    """`edgebench compare` found a significant regression beyond the threshold."""

    exit_code = EXIT_REGRESSION


class DeviceLost(DeviceError):
    """The connection to a device dropped mid-run (ssh exit 255, adb device gone): worth a retry."""


class DeviceUnusable(DeviceError):
    """The device answers but cannot run jobs until someone acts (unauthorized, offline, no space left,
    workdir unwritable): retried once, then the device's remaining jobs are skipped for --resume."""


class DeviceWithdrawn(DeviceError):
    """The device may no longer be used by this run (its lab lock is gone): its remaining jobs are
    recorded as skipped at once, not retried, and `edgebench run --resume` runs them again."""
