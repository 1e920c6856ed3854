#!/usr/bin/env bash
# Cluster operation without a cluster (issue 20 item 9): launch/slurm.sbatch parses
# (bash -n) and, run with a fake `srun` (which starts the command as one MPI singleton and
# passes signals on, as srun does) and a fake `scontrol` on PATH:
#  - SLURM's time-limit warning (SIGUSR1 to the batch shell) stops the run with a
#    checkpoint, agentflow exits 75, the script runs `scontrol requeue <job id>` and exits
#    75 (not 0: afterok dependencies wait); srun got --mpi=pmix;
#  - the requeued job (same job name, new environment) resumes in the same run directory
#    (stable: named after the job, not its id) and finishes with exit 0, no requeue;
#  - SLURM_NTASKS that is not the MPI world size: agentflow exits 2 naming both, and the
#    script passes 2 on without requeueing.
# usage: test_slurm.sh AGENTFLOW_BINARY
set -uo pipefail
. "$(dirname "$0")/lib.sh"
AF=$(readlink -f "$AF")
unset AF_SLURM_CHECK # ctest turns the check off for the other tests (they may run inside an allocation)

check "slurm.sbatch parses (bash -n)" "bash -n '$SRC/launch/slurm.sbatch'"

mkdir -p "$T/bin" "$T/work"
cat > "$T/bin/srun" <<'SRUN'
#!/usr/bin/env bash
# fake srun: record the arguments, run the command (options end at the first non-option)
echo "$*" >> "$FAKE_LOG/srun.args"
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
"$@" &
child=$!
trap 'kill -USR1 $child 2>/dev/null' USR1
trap 'kill -TERM $child 2>/dev/null' TERM
wait $child; status=$?
while kill -0 $child 2>/dev/null; do wait $child; status=$?; done
exit $status
SRUN
cat > "$T/bin/scontrol" <<'SCONTROL'
#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG/scontrol.args"
SCONTROL
chmod +x "$T/bin/srun" "$T/bin/scontrol"
cat > "$T/work/tiny.json" <<'JSON'
{"suite": {"name": "arith"}, "rollout": {"batch_queries": 2, "group_size": 2},
 "model": {"d_model": 32, "d_ff": 64}, "log": {"progress": "none"}, "run": {"checkpoint_every": 1000}}
JSON
export FAKE_LOG=$T PATH="$T/bin:$PATH" AF_BIN=$AF
job() { # JOBID RESTARTS [args]: the batch script as SLURM would run it, in the background
    local id=$1 restarts=$2; shift 2
    (cd "$T/work" && SLURM_JOB_ID=$id SLURM_JOB_NAME=fuzzjob SLURM_NTASKS=1 SLURM_RESTART_COUNT=$restarts \
        exec bash "$SRC/launch/slurm.sbatch" tiny.json "" "$@") > "$T/job$id.log" 2>&1 &
}
# 1. the time-limit warning mid-run
job 101 0 --set run.iterations=100000
pid=$!
bg_track "$pid"
R=$T/work/runs/slurm-fuzzjob
for _ in $(seq 1 300); do [ -s "$R/metrics.jsonl" ] && break; sleep 0.05; done
sleep 0.3
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "USR1: the script exits 75" "[ $rc = 75 ]"
check "USR1: srun was asked for --mpi=pmix" "grep -q -- '--mpi=pmix' '$T/srun.args'"
check "USR1: the job requeued itself" "grep -qx 'requeue 101' '$T/scontrol.args' 2>/dev/null"
check "USR1: a checkpoint in the job-named run directory" "'$AF' ckpt verify --run-dir '$R' > /dev/null"
lines=$(wc -l < "$R/metrics.jsonl")
# 2. the requeued job resumes there and finishes
job 101 1 --set run.iterations=$((lines + 2))
pid=$!
bg_track "$pid"
wait "$pid"
rc=$?
check "requeued: resumes the same run directory and finishes with exit 0" \
    "[ $rc = 0 ] && grep -q 'resume=latest-valid' '$T/job101.log' && grep -q 'resuming from checkpoint step $lines' '$T/job101.log' && [ \$(wc -l < '$R/metrics.jsonl') = $((lines + 2)) ]"
check "requeued: not requeued again" "[ \$(grep -c requeue '$T/scontrol.args') = 1 ]"
# 3. SLURM's task count is not the MPI world size
(cd "$T/work" && SLURM_JOB_ID=102 SLURM_JOB_NAME=other SLURM_NTASKS=4 exec bash "$SRC/launch/slurm.sbatch" tiny.json \
    "" --set run.iterations=2) > "$T/job102.log" 2>&1
rc=$?
check "SLURM_NTASKS=4 with a 1-rank world: exit 2 naming both, no requeue" \
    "[ $rc = 2 ] && grep -q 'SLURM_NTASKS=4, but the MPI world has 1 rank' '$T/job102.log' && ! grep -q 'requeue 102' '$T/scontrol.args'"
finish
