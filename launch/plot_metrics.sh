#!/usr/bin/env bash
# Turns RUN_DIR/metrics.jsonl into PNG curves with gnuplot (Debian: gnuplot-nox).
#   ./launch/plot_metrics.sh RUN_DIR [OUT_DIR]      -> OUT_DIR/<metric>.png (default RUN_DIR/plots)
# Plots every numeric top-level field of the JSON lines against "iteration".
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
# json module (always present: the python tool needs it).
/usr/bin/env python3 - "$metrics" "$tmp" <<'PY'
import json, sys, math
src, dst = sys.argv[1], sys.argv[2]
series = {}
with open(src) as f:
    for n, line in enumerate(f, 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            print(f"plot_metrics: {src}:{n}: not JSON, skipped", file=sys.stderr)
            continue
        it = rec.get("iteration")
        if not isinstance(it, (int, float)):
            continue
        for k, v in rec.items():
            if k != "iteration" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                series.setdefault(k, []).append((it, v))
for k, pts in series.items():
    with open(f"{dst}/{k}.dat", "w") as g:
        g.writelines(f"{i} {v!r}\n" for i, v in pts)
PY
n=0
for dat in "$tmp"/*.dat; do
    [ -e "$dat" ] || continue
    key=$(basename "$dat" .dat)
    gnuplot <<GP
set terminal pngcairo size 800,480 noenhanced
set output "$out/$key.png"
set title "$key"
set xlabel "iteration"
set grid
plot "$dat" using 1:2 with linespoints pointsize 0.5 title "$key"
GP
    n=$((n + 1))
done
echo "plot_metrics: wrote $n plots to $out"
