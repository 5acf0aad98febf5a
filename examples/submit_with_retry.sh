#!/bin/bash
# Submit a chggen campaign as a Ray job and submit it again when its driver dies.
#
#   examples/submit_with_retry.sh CONFIG [chggen run options]
#
# Runs `ray job submit ... -- chggen run CONFIG --address auto [options]` against the
# cluster's job API (RAY_DASHBOARD, default http://127.0.0.1:8265: `ray up cluster.yaml`
# then `ray dashboard cluster.yaml`, or a port-forward to a KubeRay head's 8265). Each
# submission gets its own id (<prefix>-<n>). When it ends:
#   * succeeded                          -> exit 0;
#   * failed with exit code 2 (bad input) -> exit 2 at once (resubmitting changes nothing);
#   * stopped (`ray job stop`)           -> exit 1, not resubmitted;
#   * still running (this client lost its connection) -> follow its logs again;
#   * anything else (the driver died, the head restarted, the job API unreachable)
#     -> wait CHGGEN_RETRY_DELAY_S (default 30) and submit again, at most
#        CHGGEN_SUBMIT_ATTEMPTS submissions (default 5); exit 1 when they are used up.
# A resubmitted driver resumes the results folder: finished tasks are skipped, and the
# dead driver's lock is taken over (docs/reliability.md).
set -uo pipefail

if (($# < 1)); then
  echo "usage: $0 CONFIG [chggen run options]" >&2
  exit 2
fi
dashboard="${RAY_DASHBOARD:-http://127.0.0.1:8265}"
attempts="${CHGGEN_SUBMIT_ATTEMPTS:-5}"
delay_s="${CHGGEN_RETRY_DELAY_S:-30}"
prefix="${CHGGEN_SUBMISSION_PREFIX:-chggen-$(date +%Y%m%d-%H%M%S)}"
working_dir="${CHGGEN_WORKING_DIR:-.}"
# One job id for every submission: a resubmitted driver on another host takes over the
# lock its predecessor left (campaign.folder.current_job).
job_id="${CHGGEN_JOB_ID:-${prefix}}"

say() { echo "submit_with_retry: $*" >&2; }

# The job's state as `ray job status` prints it: SUCCEEDED, FAILED_INPUT (exit code 2),
# FAILED, STOPPED, RUNNING (or PENDING), UNKNOWN (no answer).
job_state() {
  local text
  text="$(ray job status --address "$dashboard" "$1" 2>&1)" || true
  case "$text" in
    *"succeeded"*) echo SUCCEEDED ;;
    *"failed with exit code 2,"* | *"failed with exit code 2."*) echo FAILED_INPUT ;;
    *"failed"*) echo FAILED ;;
    *"was stopped"*) echo STOPPED ;;
    *": RUNNING"* | *": PENDING"*) echo RUNNING ;;
    *) echo UNKNOWN ;;
  esac
}

for ((n = 1; n <= attempts; n++)); do
  id="${prefix}-${n}"
  say "submission ${n} of ${attempts}: ${id}"
  ray job submit --address "$dashboard" --submission-id "$id" --working-dir "$working_dir" \
    --runtime-env-json "{\"env_vars\": {\"CHGGEN_JOB_ID\": \"${job_id}\"}}" \
    -- chggen run "$@" --address auto
  state="$(job_state "$id")"
  while [[ "$state" == RUNNING ]]; do  # this client lost the job, the job did not end
    say "${id} still runs: following its logs"
    ray job logs --address "$dashboard" --follow "$id"
    state="$(job_state "$id")"
  done
  case "$state" in
    SUCCEEDED) say "${id} succeeded"; exit 0 ;;
    FAILED_INPUT) say "${id} refused its input (exit code 2): not resubmitted"; exit 2 ;;
    STOPPED) say "${id} was stopped: not resubmitted"; exit 1 ;;
  esac
  if ((n < attempts)); then
    say "${id} ended ${state}: submitting again in ${delay_s} s (it resumes the folder)"
    sleep "$delay_s"
  fi
done
say "${attempts} submissions used up; run this again to resume"
exit 1
