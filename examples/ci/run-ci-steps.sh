#!/usr/bin/env bash
# The steps of examples/ci/edgebench.yml as one script: run a device profile, add the run to the
# history store, write history.html, then gate with `edgebench history check` (exit 4 on a step).
#
# Settings (environment):
#   PROFILE            device profile to run (default devices/qemu-arm64.toml)
#   SETUP_QEMU         1 to build the emulated arm64 environment first (default: 1 for a qemu profile)
#   RESULTS            results root; the run goes to $RESULTS/$RUN_ID (default results)
#   RUN_ID             run folder name (default ci-<GitHub run id or timestamp>)
#   EDGEBENCH_HISTORY  the history store (default $RESULTS/history.sqlite); cache this file in CI
#   EDGEBENCH          the command to call (default: edgebench)
#   RUN_ARGS           extra arguments for `edgebench run` (matrix overrides such as --quick)
#   COMMIT, BRANCH     the commit and branch being measured (default: GitHub's, else git's)
#   CHECK_LAST         fail on steps that began in the newest N runs of a series (default 5)
set -euo pipefail

PROFILE=${PROFILE:-devices/qemu-arm64.toml}
RESULTS=${RESULTS:-results}
RUN_ID=${RUN_ID:-ci-${GITHUB_RUN_ID:-$(date -u +%Y%m%d-%H%M%S)}}
export EDGEBENCH_HISTORY=${EDGEBENCH_HISTORY:-$RESULTS/history.sqlite}
read -r -a EB <<< "${EDGEBENCH:-edgebench}"
read -r -a EXTRA <<< "${RUN_ARGS:-}"
COMMIT=${COMMIT:-${GITHUB_SHA:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}}
BRANCH=${BRANCH:-${GITHUB_REF_NAME:-$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}}

case "$PROFILE" in *qemu*) default_setup=1 ;; *) default_setup=0 ;; esac
if [ "${SETUP_QEMU:-$default_setup}" = 1 ]; then
  "${EB[@]}" devices setup-qemu
fi

mkdir -p "$RESULTS"
"${EB[@]}" run "$PROFILE" --out "$RESULTS" --run-id "$RUN_ID" "${EXTRA[@]}"
"${EB[@]}" history add "$RESULTS/$RUN_ID" --commit "$COMMIT" --branch "$BRANCH"
"${EB[@]}" history show --html "$RESULTS/history.html"
# last: its exit status is the job's (2 = a step for the worse that nobody acknowledged)
"${EB[@]}" history check --last "${CHECK_LAST:-5}"
