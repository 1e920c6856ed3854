#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the main job: installs the Debian
# packages, builds agentflow, and trains the game24 planner with Flow-GRPO on this
# machine for 15 minutes (launch/game24_proof.sh with launch/configs/game24-attempts.json:
# a supervised warm start on the training puzzles' oracle solutions, data-parallel over
# 2 learners, then Flow-GRPO iterations until the time is spent), printing the greedy
# held-out accuracy of the untrained planner, after the warm start and after Flow-GRPO.
# The training's progress (warm start, iterations, ETA) shows live; at the end it prints
# where the results, plots and TensorBoard files are.
# Arguments go to launch/game24_proof.sh, e.g.
#   ./launch/quickstart.sh --minutes 8 -- --set model.warmstart_steps=500
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" --target agentflow
echo "quickstart: built $(./build/agentflow --version)"

# The main job is launch/game24_proof.sh: 15 minutes of training on 4 ranks (2 learners
# that share the warm start, 2 actors), oversubscribed on this machine's cores.
run_dir=runs/quickstart-game24-$(date +%Y%m%d-%H%M%S)
./launch/game24_proof.sh --out "$run_dir" "$@"
./launch/plot_metrics.sh "$run_dir/train" > /dev/null 2>&1 || echo "quickstart: plotting failed (./launch/plot_metrics.sh $run_dir/train)"
echo "quickstart: run directory $run_dir"
echo "  results      $run_dir/proof.json"
echo "  metrics      $run_dir/train/metrics.jsonl, $run_dir/train/eval.jsonl (training log $run_dir/train.log)"
echo "  plots        $run_dir/train/plots/overview.png (and one PNG per metric)"
echo "  TensorBoard  tensorboard --logdir $run_dir/train/tb"
echo "  model        $run_dir/train/model/"
