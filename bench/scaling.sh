#!/usr/bin/env bash
# Scaling study over short `agentflow train` runs of one small fixed configuration:
# actor ranks x learner ranks x transport, collecting throughput and where each
# iteration's time goes from RUN_DIR/metrics.jsonl into bench/results/scaling.csv, and
# PNG plots (gnuplot, Debian package gnuplot-nox; skipped with a message when absent).
#
#   bench/scaling.sh [--actors "1 2 4 8"] [--learners "1 2"] [--transports "shm tcp"]
#                    [--iterations N] [--long] [--bin PATH] [--out DIR] [--keep]
#                    [--cores N] [--mpirun-args "ARGS"] [--plot-only]
#                    [--no-async | --only-async] [--async-reps N] [--async-iterations N]
#
#   --cores N          cores available to the runs (default nproc; on a cluster, the
#                      allocation's total), for the oversubscription mark
#   --mpirun-args ARGS extra mpirun arguments, e.g. "--hostfile H --map-by node --bind-to core"
#   --plot-only        no runs: redraw the plots from an existing OUT/scaling.csv
#   --no-async         skip the asynchronous-mode sweep (below)
#   --only-async       run only that sweep: its rows replace the previous sweep's rows in
#                      OUT/scaling.csv, the grid's rows are kept
#   --async-reps N     repetitions of each sweep configuration, alternating (default 3)
#   --async-iterations N  iterations per sweep run (default 10, the first a warm-up)
#
#   transport shm: Open MPI's default (shared memory between the ranks of a node);
#   transport tcp: --mca pml ob1 --mca btl tcp,self, TCP over loopback, a stand-in for
#                  ranks on different nodes.
# Ranks = learners + actors; a run with more ranks than cores is marked oversubscribed
# (its ranks time-share the cores, so its speed-up says nothing about a cluster).
# The planner is warm-started once (behaviour cloning of valid random actions), and every
# run starts from it (--init-from), so all runs do the same work: same seed, same batches,
# bit-identical trajectories whatever the number of actors (tests/test_train.sh checks
# that). The first iteration of each run is a warm-up and left out of the figures.
#
# The grid (column study = grid) is synchronous without injected slow episodes. The
# asynchronous sweep (study = async) runs 1 learner + 2 actors over shared memory in
# synchronous mode and asynchronous mode with algo.max_staleness 1 and 2 (mode sync,
# async-k1, async-k2), without stragglers and with 10% of the episodes 5x slower
# (rollout.slow_fraction=0.1, rollout.slow_factor=5: the episode's rank sleeps 4x the
# episode's wall time after it; straggler none / 10%x5), each configuration --async-reps
# times, the configurations alternating within each repetition (column rep).
# Asynchronous runs are not bit-reproducible (which weights ran which episode depends on
# timing). Every run writes a checkpoint after every iteration (the worst case: with
# run.checkpoint_every=N its share is divided by N).
set -euo pipefail
cd "$(dirname "$0")/.."
actors="1 2 4 8" learners="1 2" transports="shm tcp" iters=4 bin="" out=bench/results keep=0 cores="" margs="" plot_only=0
do_async=1 do_grid=1 areps=3 aiters=10
while [ $# -gt 0 ]; do
    case $1 in
        --actors) actors=$2; shift ;;
        --learners) learners=$2; shift ;;
        --transports) transports=$2; shift ;;
        --iterations) iters=$2; shift ;;
        --long) iters=10 ;;
        --bin) bin=$2; shift ;;
        --out) out=$2; shift ;;
        --keep) keep=1 ;;
        --cores) cores=$2; shift ;;
        --mpirun-args) margs=$2; shift ;;
        --plot-only) plot_only=1 ;;
        --no-async) do_async=0 ;;
        --only-async) do_grid=0 ;;
        --async-reps) areps=$2; shift ;;
        --async-iterations) aiters=$2; shift ;;
        *) sed -n '2,24p' "$0" >&2; exit 2 ;;
    esac
    shift
done
[ "$iters" -ge 2 ] && [ "$aiters" -ge 2 ] || { echo "scaling.sh: iterations must be >= 2 (the first is a warm-up)" >&2; exit 2; }
[ "$do_grid" -eq 1 ] || [ "$do_async" -eq 1 ] || { echo "scaling.sh: --no-async and --only-async leave nothing to run" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
work=$(mktemp -d /tmp/af-scaling.XXXXXX)
[ $keep -eq 1 ] && echo "scaling.sh: run directories kept in $work" >&2 || trap 'rm -rf "$work"' EXIT
[ -n "$cores" ] || cores=$(nproc)
read -r -a margv <<< "$margs"
csv=$out/scaling.csv
if [ $plot_only -eq 0 ]; then
if [ -z "$bin" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAF_SANITIZE_TESTS=OFF > /dev/null
    cmake --build build-bench -j2 --target agentflow > /dev/null
    bin=build-bench/agentflow
fi

# The same game24 puzzles as tests/test_train.sh (a warm-started planner gets varying
# rewards, so groups are kept and the learner has work), with a somewhat larger planner.
for q in "12 12 12 12" "2 2 2 12" "3 8 8 8" "3 3 3 8" "4 6 6 6" "2 12 12 12"; do
    echo "{\"question\": \"$q\"}"
done > "$work/easy.jsonl"
CFG=(--set suite.name=game24 --set data.train="$work/easy.jsonl" --set data.test="$work/easy.jsonl"
     --set model.d_model=64 --set model.n_layers=2 --set model.n_heads=4 --set model.n_kv_heads=2
     --set model.d_ff=176 --set model.max_seq=256 --set rollout.max_turns=3 --set rollout.max_action_tokens=24
     --set rollout.batch_queries=8 --set rollout.group_size=8 --set algo.lr=1e-3 --set log.level=warn
     --set log.progress=none --set run.seed=7 --set run.eval_every=0 --set run.checkpoint_every=1)
gcmd=/dev/null acmd=/dev/null
[ "$do_grid" -eq 1 ] && gcmd=$out/scaling.cmd
[ "$do_async" -eq 1 ] && acmd=$out/scaling_async.cmd
for f in "$gcmd" "$acmd"; do
    [ "$f" = /dev/null ] && continue
    { echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $cores cores"
      printf '%s\n' "$bin train ${CFG[*]}"; } > "$f"
done

echo "scaling.sh: warm start (once)" >&2
t0=$(date +%s)
"$bin" train --run-dir "$work/warm" "${CFG[@]}" --set run.iterations=0 --set model.warmstart_steps=400 \
    --set model.warmstart_batch=16 --set model.warmstart_lr=1e-2 > "$work/warm.log" 2>&1 ||
    { tail -20 "$work/warm.log"; exit 1; }
echo "  warm start: $(( $(date +%s) - t0 )) s" >&2
for f in "$gcmd" "$acmd"; do
    echo "warm start: $bin train --run-dir RUN ... --set run.iterations=0 --set model.warmstart_steps=400 --set model.warmstart_batch=16 --set model.warmstart_lr=1e-2" >> "$f"
done

csv=$out/scaling.csv
echo "learners,actors,ranks,transport,oversubscribed,mode,straggler,iterations_used,trajectories,traj_per_iteration_s,trajectories_per_s,tokens_per_s,learner_tokens_per_s,iteration_s,rollout_s,learn_s,broadcast_s,checkpoint_s,wait_s,rollout_share,learn_share,broadcast_share,checkpoint_share,wait_share,turns_mean,action_tokens_mean,tool_calls_per_traj,learner_tokens,speedup_vs_1_actor,efficiency,study,rep,staleness_mean" > "$csv.tmp"

collect() { # metrics.jsonl learners actors ranks transport oversubscribed mode straggler study rep -> one CSV row
    /usr/bin/python3 - "$@" >> "$csv.tmp" <<'PY'
import json, sys
path, L, A, np_, tr, over, mode, strag, study, rep = sys.argv[1:]
rows = [json.loads(l) for l in open(path)][1:]          # iteration 0 is a warm-up
n = len(rows)
def mean(k): return sum(float(r.get(k, 0.0)) for r in rows) / n
def tot(k): return sum(float(r.get(k, 0.0)) for r in rows)
it, ro, le, bc, ck, wa = (tot(k) for k in ("iteration_s", "rollout_s", "learn_s", "broadcast_s", "checkpoint_s", "wait_s"))
traj = tot("trajectories")
calls = sum(sum(v.get("calls", 0) for v in r.get("tools", {}).values()) for r in rows)
turns = mean("turns_mean") if "turns_mean" in rows[0] else float("nan")
stale = f"{mean('staleness_mean'):.4f}" if all("staleness_mean" in r for r in rows) else ""
print(",".join(str(x) for x in [L, A, np_, tr, over, mode, strag, n, int(traj),
      f"{traj / it:.3f}", f"{traj / ro:.3f}", f"{mean('tokens_per_s'):.1f}", f"{mean('learner_tokens_per_s'):.1f}",
      f"{it / n:.4f}", f"{ro / n:.4f}", f"{le / n:.4f}", f"{bc / n:.5f}", f"{ck / n:.5f}", f"{wa / n:.4f}",
      f"{ro / it:.4f}", f"{le / it:.4f}", f"{bc / it:.5f}", f"{ck / it:.5f}", f"{wa / it:.4f}",
      f"{turns:.3f}", f"{mean('action_tokens_mean'):.2f}", f"{calls / traj:.3f}",
      int(round(sum(float(r["learner_tokens_per_s"]) * float(r["learn_s"]) for r in rows))), "", "", study, rep, stale]))
PY
}

one() { # learners actors transport
    local L=$1 A=$2 tr=$3 np=$(( $1 + $2 )) mca=("${margv[@]}")
    [ "$tr" = tcp ] && mca+=(--mca pml ob1 --mca btl tcp,self)
    local name="L${L}_A${A}_$tr" over=0
    [ "$np" -gt "$cores" ] && over=1
    echo "scaling.sh: $name ($np ranks$([ $over -eq 1 ] && echo ', oversubscribed'))" >&2
    echo "mpirun -np $np --oversubscribe ${mca[*]} $bin train --run-dir RUN ${CFG[*]} --init-from WARM/model --set topology.learners=$L --set run.iterations=$iters" >> "$gcmd"
    if ! mpirun -np "$np" --oversubscribe "${mca[@]}" "$bin" train --run-dir "$work/$name" "${CFG[@]}" \
        --init-from "$work/warm/model" --set topology.learners="$L" --set run.iterations="$iters" \
        > "$work/$name.log" 2>&1; then
        echo "scaling.sh: $name failed:" >&2; tail -5 "$work/$name.log" >&2; return 0
    fi
    collect "$work/$name/metrics.jsonl" "$L" "$A" "$np" "$tr" "$over" sync none grid 1
}

# Asynchronous sweep: 1 learner + 2 actors, shared memory; mode x straggler, alternating.
one_async() { # mode straggler rep
    local mode=$1 strag=$2 rep=$3 np=3 over=0 k=0 extra=() mca=("${margv[@]}")
    case $mode in async-k1) k=1 ;; async-k2) k=2 ;; esac
    [ "$strag" = "10%x5" ] && extra=(--set rollout.slow_fraction=0.1 --set rollout.slow_factor=5)
    [ "$np" -gt "$cores" ] && over=1
    local name="async_${mode}_${strag//%/pct}_r$rep"
    echo "scaling.sh: $name" >&2
    [ "$rep" -eq 1 ] && echo "mpirun -np $np --oversubscribe ${mca[*]} $bin train --run-dir RUN ${CFG[*]} --init-from WARM/model --set topology.learners=1 --set run.iterations=$aiters --set algo.max_staleness=$k ${extra[*]}" >> "$acmd"
    if ! mpirun -np "$np" --oversubscribe "${mca[@]}" "$bin" train --run-dir "$work/$name" "${CFG[@]}" \
        --init-from "$work/warm/model" --set topology.learners=1 --set run.iterations="$aiters" \
        --set algo.max_staleness="$k" "${extra[@]}" > "$work/$name.log" 2>&1; then
        echo "scaling.sh: $name failed:" >&2; tail -5 "$work/$name.log" >&2; return 0
    fi
    collect "$work/$name/metrics.jsonl" 1 2 "$np" shm "$over" "$mode" "$strag" async "$rep"
}

# Reference: one process, learner and actor in the same rank, no messages at all: the
# pure cost of the episodes and of the update (the performance model's inputs).
t_start=$(date -u +%H:%M)
if [ "$do_grid" -eq 1 ]; then
echo "scaling.sh: embedded (1 rank, no MPI messages)" >&2
echo "$bin train --run-dir RUN ${CFG[*]} --init-from WARM/model --set run.iterations=$iters" >> "$gcmd"
if "$bin" train --run-dir "$work/embedded" "${CFG[@]}" --init-from "$work/warm/model" --set run.iterations="$iters" \
    > "$work/embedded.log" 2>&1; then
    collect "$work/embedded/metrics.jsonl" 1 0 1 none 0 sync none grid 1
else
    echo "scaling.sh: embedded run failed:" >&2; tail -5 "$work/embedded.log" >&2
fi
for tr in $transports; do
    for L in $learners; do
        for A in $actors; do one "$L" "$A" "$tr"; done
    done
done
sed -i "1s/\$/ (grid: $t_start-$(date -u +%H:%M) UTC)/" "$gcmd"
fi
if [ "$do_async" -eq 1 ]; then
    t_start=$(date -u +%H:%M)
    for rep in $(seq 1 "$areps"); do
        for strag in none "10%x5"; do
            for mode in sync async-k1 async-k2; do one_async "$mode" "$strag" "$rep"; done
        done
    done
    sed -i "1s/\$/ (sweep: $t_start-$(date -u +%H:%M) UTC, $areps repetitions)/" "$acmd"
fi

# speed-up and parallel efficiency against the 1-actor run of the same learners/transport
# (with --only-async / --no-async, the other study's rows are kept from the previous CSV)
/usr/bin/python3 - "$csv.tmp" "$csv" "$do_grid" "$do_async" <<'PY'
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
fields = list(csv.DictReader(open(sys.argv[1])).fieldnames)
ran = {s for s, on in (("grid", sys.argv[3]), ("async", sys.argv[4])) if on == "1"}
if os.path.exists(sys.argv[2]):
    for r in csv.DictReader(open(sys.argv[2])):
        r.setdefault("study", "grid"); r.setdefault("rep", "1"); r.setdefault("staleness_mean", "")
        r = {k: (r.get(k) or "") for k in fields}
        if r["study"] not in ran:
            rows.append(r)
rows.sort(key=lambda r: r["study"] != "grid")
base = {(r["learners"], r["transport"]): float(r["trajectories_per_s"]) for r in rows
        if r["actors"] == "1" and r["study"] == "grid"}
for r in rows:
    b = base.get((r["learners"], r["transport"]))
    if b and r["study"] == "grid":
        s = float(r["trajectories_per_s"]) / b
        r["speedup_vs_1_actor"], r["efficiency"] = f"{s:.3f}", f"{s / int(r['actors']):.3f}"
w = csv.DictWriter(open(sys.argv[2], "w", newline=""), fieldnames=fields)
w.writeheader()
w.writerows(rows)
PY
rm -f "$csv.tmp"
echo "scaling.sh: wrote $csv" >&2
fi
[ -s "$csv" ] || { echo "scaling.sh: $csv is missing" >&2; exit 1; }

if ! command -v gnuplot > /dev/null; then
    echo "scaling.sh: gnuplot not found (apt-get install gnuplot-nox): plots skipped" >&2
    exit 0
fi
# one data file per (learners, transport): actors, throughput, efficiency, shares
/usr/bin/python3 - "$csv" "$work" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("study", "grid") == "grid"]
for r in rows:
    with open(f"{sys.argv[2]}/plot_L{r['learners']}_{r['transport']}.dat", "a") as f:
        f.write(" ".join(r[k] or "nan" for k in ("actors", "trajectories_per_s", "traj_per_iteration_s", "efficiency",
                                                  "rollout_share", "learn_share", "broadcast_share", "wait_share",
                                                  "oversubscribed")) + "\n")
PY
plots=""
for tr in $transports; do for L in $learners; do
    f="$work/plot_L${L}_$tr.dat"
    [ -s "$f" ] && plots="$plots${plots:+, }'$f' using 1:COL with linespoints title 'L=$L $tr'"
done; done
[ -n "$plots" ] || { echo "scaling.sh: no successful runs to plot" >&2; exit 0; }
gp() { # output ylabel column title
    gnuplot <<EOF
set terminal png size 800,500
set output '$1'
set title "$4 (ranks > $cores cores are oversubscribed)"
set xlabel 'actor ranks'
set ylabel '$2'
set logscale x 2
set key left top
set grid
plot ${plots//COL/$3}
EOF
}
gp "$out/scaling_throughput.png" 'trajectories/s (rollout phase)' 2 'Rollout throughput'
gp "$out/scaling_iteration_throughput.png" 'trajectories/s (whole iteration)' 3 'Iteration throughput'
gp "$out/scaling_efficiency.png" 'parallel efficiency (speed-up / actors)' 4 'Parallel efficiency vs 1 actor'
# where the time goes, L=1 shm
f="$work/plot_L1_shm.dat"
if [ -s "$f" ]; then
    gnuplot <<EOF
set terminal png size 800,500
set output '$out/scaling_shares.png'
set title 'Share of iteration time, 1 learner, shared memory'
set xlabel 'actor ranks'
set ylabel 'share of iteration time'
set logscale x 2
set yrange [0:1]
set key right top
set grid
plot '$f' using 1:5 with linespoints title 'rollout', '' using 1:6 with linespoints title 'learn', \
     '' using 1:7 with linespoints title 'broadcast', '' using 1:8 with linespoints title 'learner wait (in rollout)'
EOF
fi
echo "scaling.sh: plots in $out/scaling_*.png" >&2
