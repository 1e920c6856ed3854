#!/usr/bin/env bash
# Runs every benchmark and regenerates the tables of BENCHMARKS.md from bench/results/*.csv.
#
#   bench/run.sh [--long] [--no-build] [--only LIST] [--build-dir DIR]
#
#   --long        longer runs (more repetitions; each bench well under a minute without it)
#   --only LIST   comma-separated subset of: model,decode,hf,wire,bcast,ckpt,report, and
#                 train_bf16 (not in the default list: model B at 2 threads against PyTorch
#                 takes minutes; appends one row to bench/results/model_bf16_train.csv), and
#                 train_paired (not in the default list either: the same training, C bf16 and
#                 PyTorch autocast alternated step by step; appends one row to
#                 bench/results/model_train_paired.csv)
#   --build-dir   where to build (default build-bench; Release, no sanitizers)
#
# Every figure is printed next to a reference measured in the same run (PyTorch, memcpy,
# MPI_Bcast, raw write+fdatasync); on a shared machine only those ratios are meaningful.
# bench/scaling.sh (the end-to-end scaling study) is separate: it takes minutes. The
# report includes its CSV (bench/results/scaling.csv) when present.
set -euo pipefail
cd "$(dirname "$0")/.."
long=0 build=1 only="model,decode,hf,wire,bcast,ckpt,report" bdir=build-bench
while [ $# -gt 0 ]; do
    case $1 in
        --long) long=1 ;;
        --no-build) build=0 ;;
        --only) only=$2; shift ;;
        --build-dir) bdir=$2; shift ;;
        *) echo "usage: bench/run.sh [--long] [--no-build] [--only model,decode,train_bf16,train_paired,hf,wire,bcast,ckpt,report] [--build-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$only," == *",$1,"* ]]; }
[ "$only" = report ] && build=0 # nothing to run: no build needed
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
mkdir -p bench/results
if [ $build -eq 1 ]; then
    cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DAF_SANITIZE_TESTS=OFF > /dev/null
    cmake --build "$bdir" -j2 > "$bdir/bench-build.log" 2>&1 || { tail -30 "$bdir/bench-build.log"; exit 1; }
fi
# The exact commands of each part go to bench/results/<part>.cmd (the report prints them).
started=""
run() { # run PART CMD...: record and run one command
    local part=$1; shift
    [[ " $started " == *" $part "* ]] ||
        { echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)" > "bench/results/$part.cmd"
          started="$started $part"; }
    echo "$*" >> "bench/results/$part.cmd"
    echo "+ $*" >&2
    "$@"
}
L=(); [ $long -eq 1 ] && L=(--long)

if want model; then
    # models A and B against PyTorch; by default at 1 thread only (the PyTorch side
    # dominates the time: model B takes minutes on a loaded 2-core machine)
    if [ $long -eq 1 ]; then run model "$bdir/bench_model" --threads 1,2 --steps 10 --decode-tokens 256
    else run model "$bdir/bench_model" --threads 1 --steps 3 --decode-tokens 64; fi
fi
if want decode; then
    # decode only (fp32 and bf16 against PyTorch fp32 and its faster bf16 mode), model B,
    # each PyTorch figure from the same run; by default at 1 thread (PyTorch at 2 threads
    # takes many minutes on a loaded 2-core machine)
    if [ $long -eq 1 ]; then run model_decode "$bdir/bench_model" --models B --threads 1,2 --no-train --decode-tokens 256 \
        --csv bench/results/model_decode.csv
    else run model_decode "$bdir/bench_model" --models B --threads 1 --no-train --decode-tokens 64 \
        --csv bench/results/model_decode.csv; fi
fi
if want train_bf16; then
    # training in fp32 and with bf16 products (model.compute=bf16) against PyTorch fp32 and
    # bf16 autocast, model B at 2 threads (issue 19's target): the run's row, with the time
    # and load average at its start, is appended to bench/results/model_bf16_train.csv in
    # that file's columns (BENCHMARKS.md "Training with bf16 products" tabulates them)
    started_utc=$(date -u '+%Y-%m-%d %H:%M') load=$(cut -d' ' -f1-3 /proc/loadavg)
    run model_bf16_train "$bdir/bench_model" --models B --threads 2 --steps 3 --decode-tokens 64 \
        --csv "$bdir/model_bf16_train.csv"
    /usr/bin/python3 - "$bdir/model_bf16_train.csv" bench/results/model_bf16_train.csv "$started_utc" "$load" <<'PYEOF'
import csv, os, sys
src, dst, utc, load = sys.argv[1:]
rows = list(csv.DictReader(open(src)))
head = ["run_utc", "load_average"] + list(rows[0].keys())
if os.path.exists(dst) and os.path.getsize(dst):
    head = next(csv.reader(open(dst)))
new = not os.path.exists(dst) or not os.path.getsize(dst)
with open(dst, "a", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    if new: w.writerow(head)
    for r in rows:
        r.update(run_utc=utc, load_average=load)
        w.writerow([r.get(c, "") for c in head])
PYEOF
fi
if want train_paired; then
    # model B at 2 threads, C bf16 and PyTorch bf16 autocast alternated one step at a time
    # (12 rounds after 3 warm-up steps each), so both see the same machine: the median of
    # the per-round ratios, their spread, and each side's share of the bf16 instruction
    # peak measured in the same run (BENCHMARKS.md "Training, C and PyTorch alternated step by step")
    run model_train_paired env AF_SOURCE_DIR="$PWD" "$bdir/bench_train_paired" --model B --threads 2 --rounds 12 \
        --warmup 3 --csv bench/results/model_train_paired.csv --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi
if want hf; then
    # a Qwen2.5-0.5B-shaped model (494M parameters, random weights) in bf16: generated once
    # (about a minute, 1 GB on disk, in the build directory), then loaded, scored, decoded
    # in a fresh process so its peak memory is the reader's
    [ -f "$bdir/hf_qwen25/model.safetensors" ] || "$bdir/bench_hf_model" gen "$bdir/hf_qwen25"
    run hf_model "$bdir/bench_hf_model" run "$bdir/hf_qwen25" --csv bench/results/hf_model.csv
fi
if want wire; then run wire "$bdir/bench_wire" "${L[@]}"; fi
if want bcast; then
    rm -f bench/results/bcast.csv
    for np in 2 3 4; do run bcast mpirun -np "$np" --oversubscribe "$bdir/bench_bcast" "${L[@]}"; done
fi
if want ckpt; then
    if [ -x "$bdir/bench_ckpt" ]; then run ckpt "$bdir/bench_ckpt"
    else echo "bench/run.sh: $bdir/bench_ckpt not built (no bench/bench_ckpt.c on this branch): skipped" >&2; fi
fi
# The machine as it was during this run (not rewritten by a report-only call).
if [ "$only" != report ]; then
    { echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
      echo "cores: $(nproc) online ($(lscpu | sed -n 's/^CPU(s): *//p' | head -1) CPUs, $(lscpu | sed -n 's/^Thread(s) per core: *//p') threads per core)"
      echo "memory: $(free -g | awk '/Mem:/{print $2}') GiB"
      echo "load average at the end of the run: $(cut -d' ' -f1-3 /proc/loadavg)"
      echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
      echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
      echo "mpi: $(mpirun --version 2>/dev/null | head -1)"
    } > bench/results/machine.txt
fi
if want report; then
    /usr/bin/python3 bench/report.py bench/results BENCHMARKS.md
fi
