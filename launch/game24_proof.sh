#!/usr/bin/env bash
# The issue-5 learning proof on game24: launch/configs/game24-attempts.json (8 attempts,
# a data-parallel warm start on 2 learners, then Flow-GRPO) trained for a fixed wall
# time on this machine, the final evaluation included, then the held-out greedy accuracy of
#   - the untrained planner (same config, no warm start, no iterations),
#   - the planner after the warm start (the run's first eval line),
#   - the planner after Flow-GRPO (the run's last eval line),
# and, for the trained planner, in which attempt each solved puzzle was solved and the
# accuracy with a single attempt (suite.attempts=1, 3 turns). Writes RUN/proof.json.
# The training's whole output goes to RUN/train.log; its progress (warm start, iterations
# with the ETA, evaluations) shows on the terminal (launch/progress_view.sh).
#
# usage: launch/game24_proof.sh [--minutes M] [--np N] [--learners L] [--config F] [--bin B] [--out DIR]
#                               [-- extra train args]
#   defaults: 15 minutes, N = 4 ranks (2 learners, 2 actors) oversubscribed on the
#   machine's cores, the build's binary, runs/game24-proof-DATE. The run's time limit is
#   the budget less 75 s: the last iteration and the last evaluation (about 15 s here)
#   finish after it.
set -euo pipefail
cd "$(dirname "$0")/.."
. launch/progress_view.sh
minutes=15 np=4 learners=2 bin=build/agentflow cfg=launch/configs/game24-attempts.json
out=runs/game24-proof-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --learners) learners=$2; shift 2 ;;
    --config) cfg=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "game24_proof.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "game24_proof.sh: $bin is not an executable (build first)" >&2; exit 2; }
# agentflow train refuses a run directory that holds a run: say so before starting
for d in "$out/train" "$out/untrained"; do
    [ -e "$d/config.json" ] && { echo "game24_proof.sh: $d already holds a run; pass another --out" >&2; exit 2; }
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
limit=$((minutes * 60 - 75))
echo "game24_proof: training $minutes min on $np ranks ($learners learners), $(nproc) cores -> $out/train"
start=$(date +%s)
mpirun -np "$np" "$bin" train --config "$cfg" --run-dir "$out/train" --set topology.learners="$learners" \
    --set run.time_limit_s="$limit" --set run.iterations=100000 "$@" 2>&1 | tee "$out/train.log" | show_progress
wall=$(( $(date +%s) - start ))
echo "game24_proof: training took $wall s"
# the untrained planner: the same config and seed, no warm start, no iterations
echo "game24_proof: evaluating the untrained and the trained planner (logs in $out/*.log)"
"$bin" train --config "$cfg" --run-dir "$out/untrained" "$@" --set model.warmstart_steps=0 --set run.iterations=0 \
    > "$out/untrained.log" 2>&1
mpirun -np "$np" "$bin" eval --run-dir "$out/untrained" --greedy > "$out/untrained-eval.json" 2> "$out/untrained-eval.log"
mpirun -np "$np" "$bin" eval --run-dir "$out/train" --greedy > "$out/trained-eval.json" 2> "$out/trained-eval.log"
mpirun -np "$np" "$bin" eval --run-dir "$out/train" --greedy --max-turns 3 --set suite.attempts=1 \
    > "$out/trained-eval-1attempt.json" 2> "$out/trained-eval-1attempt.log"
python3 - "$out" "$wall" "$np" "$learners" "$(nproc)" <<'PY'
import collections, json, sys
out, wall, np_, L, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ev = [json.loads(l) for l in open(f"{out}/train/eval.jsonl")]
m = [json.loads(l) for l in open(f"{out}/train/metrics.jsonl")]
untrained = json.load(open(f"{out}/untrained-eval.json"))
trained = json.load(open(f"{out}/trained-eval.json"))
single = json.load(open(f"{out}/trained-eval-1attempt.json"))
cfg = json.load(open(f"{out}/train/config.json"))
att = cfg["suite"]["attempts"]
# the attempt a solved puzzle was solved in: the last of the tries it began
by = collections.Counter(r["tries"] for r in trained["results"] if r["correct"])
rep = {
    "wall_s": wall, "ranks": np_, "learners": L, "cores": cores, "attempts": att,
    "max_turns": cfg["rollout"]["max_turns"], "questions": trained["questions"],
    "untrained": untrained["accuracy"], "after_warm_start": ev[0]["accuracy"], "after_flow_grpo": ev[-1]["accuracy"],
    "trained_eval": trained["accuracy"], "trained_one_attempt": single["accuracy"],
    "rl_iterations": len(m), "solved_in_attempt": {str(k): by[k] for k in sorted(by)},
    "gain_points": round(100 * (ev[-1]["accuracy"] - untrained["accuracy"]), 1),
}
json.dump(rep, open(f"{out}/proof.json", "w"), indent=1)
print(json.dumps(rep, indent=1))
print(f"game24_proof: held-out greedy accuracy {100 * rep['untrained']:.1f}% untrained, "
      f"{100 * rep['after_warm_start']:.1f}% after the warm start, {100 * rep['after_flow_grpo']:.1f}% after "
      f"{rep['rl_iterations']} Flow-GRPO iterations ({rep['gain_points']:+.1f} points, {wall} s on {cores} cores); "
      f"{100 * rep['trained_one_attempt']:.1f}% with a single attempt")
PY
echo "game24_proof: results $out/proof.json; training log $out/train.log; metrics $out/train/metrics.jsonl,"
echo "              $out/train/eval.jsonl; TensorBoard files $out/train/tb (tensorboard --logdir $out/train/tb)"
