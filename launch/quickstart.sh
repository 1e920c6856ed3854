#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the main job: installs the Debian
# packages, builds agentflow, and trains the game24 planner with Flow-GRPO on this
# machine for at most about 10 minutes (launch/configs/game24.json: a supervised warm
# start on the training puzzles' oracle solutions, then Flow-GRPO iterations until
# run.time_limit_s), printing the greedy held-out accuracy after the warm start and after
# Flow-GRPO. Extra arguments go to `agentflow train`, e.g.
#   ./launch/quickstart.sh --set run.time_limit_s=120
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" --target agentflow
echo "quickstart: built $(./build/agentflow --version)"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1
run_dir=runs/quickstart-game24-$(date +%Y%m%d-%H%M%S)
set +e
./build/agentflow train --config launch/configs/game24.json --run-dir "$run_dir" "$@"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
    echo "quickstart: training failed (exit $rc); see the messages above" >&2
    exit "$rc"
fi
python3 - "$run_dir/eval.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
b, a = rows[0], rows[-1]
print(f"quickstart: game24 held-out greedy accuracy {b['accuracy']:.3f} after the warm start, "
      f"{a['accuracy']:.3f} after {a['iteration']} Flow-GRPO iterations ({a['questions']} test puzzles)")
PY
echo "quickstart: run directory $run_dir (metrics.jsonl, eval.jsonl, model/);"
echo "            plot with ./launch/plot_metrics.sh $run_dir"
