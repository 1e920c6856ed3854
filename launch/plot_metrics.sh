#!/usr/bin/env bash
# Turns RUN_DIR/metrics.jsonl and RUN_DIR/eval.jsonl into PNG curves with gnuplot (Debian:
# gnuplot-nox).
#   ./launch/plot_metrics.sh RUN_DIR [OUT_DIR]      (default OUT_DIR: RUN_DIR/plots)
# writes OUT_DIR/overview.png (one page of the key curves: reward, training accuracy,
# held-out accuracy, loss, KL, entropy, throughput, response length) and one PNG per
# metric against "iteration": the family keys (train/loss -> train_loss.png; runs of
# older versions, with flat keys only: every numeric key) and eval.jsonl's accuracy and
# reward (eval_accuracy.png, eval_reward_mean.png).
set -euo pipefail
run_dir=${1:?usage: plot_metrics.sh RUN_DIR [OUT_DIR]}
out=${2:-$run_dir/plots}
metrics=$run_dir/metrics.jsonl
[ -s "$metrics" ] || { echo "plot_metrics: $metrics is missing or empty" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot_metrics: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Flatten each JSON line into "iteration value" columns per numeric key, with python3's
# json module (always present: the python tool needs it); the overview's panels as
# panel-<n>.dat with their titles in panels.txt.
/usr/bin/env python3 - "$metrics" "$run_dir/eval.jsonl" "$tmp" <<'PY'
import json, math, os, sys
src, evsrc, dst = sys.argv[1], sys.argv[2], sys.argv[3]

def load(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                print(f"plot_metrics: {path}:{n}: not JSON, skipped", file=sys.stderr)
    return rows

def numeric(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

rows, evals = load(src), load(evsrc)
family = any("/" in k for r in rows for k in r)  # runs of this version: the family keys only
series = {}
for rec in rows:
    it = rec.get("iteration")
    if not numeric(it):
        continue
    for k, v in rec.items():
        if k != "iteration" and numeric(v) and ("/" in k or not family):
            series.setdefault(k, []).append((it, v))
for rec in evals:
    for k in ("accuracy", "reward_mean"):
        if numeric(rec.get("iteration")) and numeric(rec.get(k)):
            series.setdefault("eval/" + k, []).append((rec["iteration"], rec[k]))
for k, pts in series.items():
    with open(f"{dst}/{k.replace('/', '_')}.dat", "w") as g:
        g.writelines(f"{i} {v!r}\n" for i, v in pts)
# overview panels: (title, keys tried in order: this version's name, then the flat one)
panels = [("reward (sampled)", "rollout/reward_mean", "reward_mean"),
          ("training accuracy (sampled)", "rollout/accuracy", "accuracy"),
          ("held-out accuracy (greedy, eval.jsonl)", "eval/accuracy"),
          ("loss", "train/loss", "loss"), ("KL to the reference", "train/kl", "kl"),
          ("entropy", "train/entropy", "entropy"),
          ("throughput (action tokens/s)", "perf/tokens_per_s", "tokens_per_s"),
          ("response length (action tokens per turn)", "rollout/response_length_mean", "action_tokens_mean")]
with open(f"{dst}/panels.txt", "w") as g:
    for n, (title, *keys) in enumerate(panels):
        key = next((k for k in keys if k in series), None)
        if key:
            os.link(f"{dst}/{key.replace('/', '_')}.dat", f"{dst}/panel-{n}.dat")
        g.write(f"{n}\t{title}\t{'yes' if key else 'no'}\n")
PY
if command -v gnuplot >/dev/null && gnuplot -e "set terminal" 2>/dev/null | grep -q pngcairo; then
    term="pngcairo"
else
    term="png"
fi
n=0
for dat in "$tmp"/*.dat; do
    [ -e "$dat" ] || continue
    key=$(basename "$dat" .dat)
    case $key in panel-*) continue ;; esac
    gnuplot <<GP
set terminal $term size 800,480 noenhanced
set output "$out/$key.png"
set title "$key"
set xlabel "iteration"
set grid
plot "$dat" using 1:2 with linespoints pointsize 0.5 title "$key"
GP
    n=$((n + 1))
done
# the overview: 2 x 4 panels, "no data" where a run has none (e.g. no eval.jsonl)
{
    echo "set terminal $term size 1600,800 noenhanced"
    echo "set output \"$out/overview.png\""
    echo "set multiplot layout 2,4 title \"$(basename "$run_dir")\""
    echo "set grid"
    echo "set xlabel \"iteration\""
    while IFS=$'\t' read -r i title have; do
        echo "set title \"$title\""
        if [ "$have" = yes ]; then
            echo "plot \"$tmp/panel-$i.dat\" using 1:2 with linespoints pointsize 0.4 notitle"
        else
            echo "unset xtics; unset ytics; set label 1 \"no data\" at graph 0.4, 0.5"
            echo "plot [0:1] [0:1] NaN notitle"
            echo "unset label 1; set xtics; set ytics"
        fi
    done < "$tmp/panels.txt"
    echo "unset multiplot"
} | gnuplot
echo "plot_metrics: wrote $n plots and overview.png to $out"
