#!/usr/bin/env bash
# The benchmarks run and their report regenerates, and what they print is checked for
# consistency (never for speed: tests do not assert on time): bench_wire and bench_bcast
# (2 ranks) with tiny settings exit 0 and write CSV rows for every method with the sizes
# asked for, ordered min <= median <= max, and throughputs and ratios that follow from
# their own medians; bench/report.py fills BENCHMARKS.md-style markers from that CSV with
# those numbers, keeps the hand-written text, and says "not run" for what is missing.
# bench_model (model A, one timed step, no PyTorch side) writes every column of both bf16
# measurements (decode and training), in bf16 training where the CPU has native bf16,
# with --no-bf16 not (bf16 and bf16-fma, tokens/s and per CPU second), and report.py's
# model table carries them. bench_train_paired (model A, 2 rounds, its PyTorch server)
# exits 0 and appends a CSV row whose median, min, max and count of rounds at the target
# follow from the per-round step times it printed; bad arguments and a missing PyTorch
# server are refused with a message and no row.
# usage: test_bench_smoke.sh BENCH_WIRE BENCH_BCAST SOURCE_DIR BENCH_MODEL BENCH_TRAIN_PAIRED
WIRE=$1 BCAST=$2 MODEL=$4 PAIRED=$5
. "$(dirname "$0")/lib.sh" ""
SRC=${3:-$SRC}
mkdir -p "$T/results"
"$WIRE" --episodes 2 --fixtures 6 --reps 2 --csv "$T/results/wire.csv" >"$T/wire.log" 2>&1
check "bench_wire exits 0" "[ $? -eq 0 ]"
mpirun -np 2 "$BCAST" --models A --reps 1 --csv "$T/results/bcast.csv" >"$T/bcast.log" 2>&1
check "bench_bcast exits 0 on 2 ranks" "[ $? -eq 0 ]"

check "wire.csv: both sets, every op, the sizes asked for, consistent figures" "$PY - '$T/results/wire.csv' <<'PYEOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ops = {(r['set'], r['op']): r for r in rows if r['set'] in ('episodes', 'fixture')}
bad = []
for s, n in (('episodes', 2), ('fixture', 6)):
    for op in ('encode', 'decode', 'memcpy'):
        r = ops.get((s, op))
        if not r: bad.append('missing %s %s' % (s, op)); continue
        mn, md, mx = float(r['min_ns']), float(r['median_ns']), float(r['max_ns'])
        if int(r['trajectories']) != n: bad.append('%s %s: %s trajectories, asked %d' % (s, op, r['trajectories'], n))
        if int(r['reps']) < 2: bad.append('%s %s: %s reps' % (s, op, r['reps']))
        if not (0 < mn <= md <= mx): bad.append('%s %s: min/median/max %g %g %g' % (s, op, mn, md, mx))
        mbps = float(r['bytes_per_traj']) / md * 1e3    # bytes per ns -> MB/s, per trajectory
        if abs(float(r['median_MBps']) - mbps) > 0.01 * mbps: bad.append('%s %s: MB/s %s vs %g' % (s, op, r['median_MBps'], mbps))
        ratio = md / float(ops[(s, 'memcpy')]['median_ns'])
        if abs(float(r['ratio_vs_memcpy']) - ratio) > 0.01 * ratio: bad.append('%s %s: ratio %s vs %g' % (s, op, r['ratio_vs_memcpy'], ratio))
    if int(ops[(s, 'encode')]['bytes_per_traj']) <= 0: bad.append(s + ': empty trajectories')
share = [r for r in rows if r['set'] == 'episodes' and r['op'] == 'share_pct']
if not share or not 0 <= float(share[0]['median_ns']) <= 100: bad.append('episode share: %s' % share)
if bad: print('\n'.join('     ' + b for b in bad))
sys.exit(1 if bad else 0)
PYEOF"

check "bcast.csv: every method at 2 ranks, bytes = 4 x params, consistent figures" "$PY - '$T/results/bcast.csv' <<'PYEOF'
import csv, sys
rows = {r['method']: r for r in csv.DictReader(open(sys.argv[1])) if r['model'] == 'A' and r['ranks'] == '2'}
bad = []
for m in ('publish', 'weights', 'weights_shm', 'mpi_bcast', 'memcpy'):
    r = rows.get(m)
    if not r: bad.append('missing ' + m); continue
    b, mn, md, mx = int(r['bytes']), float(r['min_s']), float(r['median_s']), float(r['max_s'])
    if b != 4 * int(r['params']) or b <= 0: bad.append('%s: %d bytes for %s params' % (m, b, r['params']))
    if not (0 < mn <= md <= mx): bad.append('%s: min/median/max %g %g %g' % (m, mn, md, mx))
    if abs(float(r['median_GBps']) - b / md / 1e9) > 0.01 * b / md / 1e9: bad.append('%s: GB/s %s' % (m, r['median_GBps']))
    for ref, col in (('memcpy', 'ratio_vs_memcpy'), ('mpi_bcast', 'ratio_vs_mpi_bcast')):
        want = md / float(rows[ref]['median_s'])
        if abs(float(r[col]) - want) > 0.01 * want: bad.append('%s: %s %s vs %g' % (m, col, r[col], want))
if bad: print('\n'.join('     ' + b for b in bad))
sys.exit(1 if bad else 0)
PYEOF"

"$MODEL" --models A --threads 1 --steps 1 --decode-tokens 2 --no-torch --csv "$T/results/model.csv" >"$T/model.log" 2>&1
check "bench_model exits 0" "[ $? -eq 0 ]"
"$MODEL" --models A --threads 1 --steps 1 --decode-tokens 2 --no-torch --no-bf16 --csv "$T/model_nobf16.csv" >"$T/model_nobf16.log" 2>&1
check "bench_model --no-bf16 exits 0" "[ $? -eq 0 ]"
nobf=0; grep -q 'no native bf16 here' "$T/model.log" && nobf=1
check "model.csv: the fp32, bf16 decode and bf16 training columns, consistent figures (native bf16: $((1 - nobf)))" "$PY - '$T/results/model.csv' '$T/model_nobf16.csv' $nobf <<'PYEOF'
import csv, math, sys
want = ('model,threads,sgemm_gflops,c_train_tok_s,c_train_gflops,c_frac_sgemm,torch_train_tok_s,train_ratio,'
        'c_dec1_tok_s,torch_dec1_tok_s,dec1_ratio,c_dec16_tok_s,torch_dec16_tok_s,dec16_ratio,c_dec1_bf16_tok_s,'
        'torch_dec1_bf16_tok_s,torch_dec1_bf16_mode,dec1_bf16_ratio,c_dec16_bf16_tok_s,torch_dec16_bf16_tok_s,'
        'torch_dec16_bf16_mode,dec16_bf16_ratio,dec1_cpu_ratio,dec16_cpu_ratio,dec1_bf16_cpu_ratio,'
        'dec16_bf16_cpu_ratio,c_train_bf16_tok_s,torch_train_bf16_tok_s,train_bf16_ratio,c_bf16_speedup,'
        'c_train_bf16fma_tok_s,train_bf16fma_ratio,c_train_bf16_cpu_tok_s,c_train_bf16fma_cpu_tok_s,'
        'torch_train_bf16_cpu_tok_s,train_bf16_cpu_ratio,train_bf16fma_cpu_ratio').split(',')
bad = []
nobf = sys.argv[3] == '1'
for path, bf16 in ((sys.argv[1], not nobf), (sys.argv[2], False)):
    rows = list(csv.DictReader(open(path)))
    if len(rows) != 1 or list(rows[0].keys()) != want:
        bad.append('%s: %d rows, columns %s' % (path, len(rows), list(rows[0].keys()) if rows else None)); continue
    r = {k: (v if k.endswith('_mode') else float(v)) for k, v in rows[0].items() if k != 'model'}
    for k in ('c_train_tok_s', 'c_train_gflops', 'c_dec1_tok_s', 'c_dec16_tok_s', 'c_dec1_bf16_tok_s', 'c_dec16_bf16_tok_s'):
        if not r[k] > 0: bad.append('%s: %s %g' % (path, k, r[k]))
    for k in ('torch_train_tok_s', 'torch_train_bf16_tok_s', 'torch_dec1_bf16_tok_s', 'torch_train_bf16_cpu_tok_s'):   # --no-torch
        if r[k] != 0: bad.append('%s: %s %g without PyTorch' % (path, k, r[k]))
    for k in ('train_ratio', 'train_bf16_ratio', 'dec16_bf16_ratio', 'dec16_bf16_cpu_ratio', 'train_bf16fma_ratio',
              'train_bf16_cpu_ratio', 'train_bf16fma_cpu_ratio'):
        if not math.isnan(r[k]): bad.append('%s: %s %g without PyTorch' % (path, k, r[k]))
    if bf16:
        sp = r['c_train_bf16_tok_s'] / r['c_train_tok_s']
        if not (r['c_train_bf16_tok_s'] > 0 and abs(r['c_bf16_speedup'] - sp) <= 0.01 * sp):
            bad.append('%s: bf16 training %g tok/s, speedup %g vs %g' % (path, r['c_train_bf16_tok_s'], r['c_bf16_speedup'], sp))
        for k in ('c_train_bf16fma_tok_s', 'c_train_bf16_cpu_tok_s', 'c_train_bf16fma_cpu_tok_s'):
            if not r[k] > 0: bad.append('%s: %s %g' % (path, k, r[k]))
    elif any(r[k] != 0 for k in ('c_train_bf16_tok_s', 'c_train_bf16fma_tok_s', 'c_train_bf16_cpu_tok_s')) or not math.isnan(r['c_bf16_speedup']):
        bad.append('%s: bf16 training not asked for, yet %g tok/s, speedup %g' % (path, r['c_train_bf16_tok_s'], r['c_bf16_speedup']))
if bad: print('\n'.join('     ' + b for b in bad))
sys.exit(1 if bad else 0)
PYEOF"

printf 'cpu: test\n' >"$T/results/machine.txt"
printf '# B\n\nhand-written\n\n<!-- BEGIN:wire -->\nstale\n<!-- END:wire -->\n\nmore hand-written\n' >"$T/B.md"
"$PY" "$SRC/bench/report.py" "$T/results" "$T/B.md" >"$T/report.log" 2>&1
check "report.py exits 0" "[ $? -eq 0 ]"
check "hand-written text kept" "grep -q '^hand-written' '$T/B.md' && grep -q '^more hand-written' '$T/B.md'"
check "stale table replaced" "! grep -q '^stale' '$T/B.md' && grep -q '| episodes | encode |' '$T/B.md'"
enc=$("$PY" -c "import csv,sys; r=[r for r in csv.DictReader(open(sys.argv[1])) if r['set']=='episodes' and r['op']=='encode'][0]; print('%.1f' % float(r['median_MBps']))" "$T/results/wire.csv")
check "the wire table shows the CSV's encode MB/s ($enc)" "grep '| episodes | encode |' '$T/B.md' | grep -qF '| $enc |'"
pub=$("$PY" -c "import csv,sys; r=[r for r in csv.DictReader(open(sys.argv[1])) if r['method']=='publish' and r['ranks']=='2'][0]; print('%.2f' % float(r['ratio_vs_memcpy']))" "$T/results/bcast.csv")
check "the bcast table shows the CSV's publish ratio ($pub x memcpy)" "grep '| A | .* | 2 | publish |' '$T/B.md' | grep -qF '| $pub |'"
check "broadcast target evaluated" "grep -q 'Weight broadcast <= 1.5x memcpy at 2 ranks, model A' '$T/B.md'"
check "missing parts say not run" "grep -q 'not run' '$T/B.md'"
check "the model table carries the bf16 training columns" "grep -q '^| model | threads | .* | c_dec16_bf16_tok_s | .* | c_train_bf16_tok_s | torch_train_bf16_tok_s | train_bf16_ratio | c_bf16_speedup | c_train_bf16fma_tok_s | train_bf16fma_ratio | .* | train_bf16fma_cpu_ratio |$' '$T/B.md'"

# the paired training bench: bf16 against autocast where the CPU has native bf16, else fp32
pc=bf16; [ "$nobf" = 1 ] && pc=fp32
AF_SOURCE_DIR="$SRC" OPENBLAS_NUM_THREADS=1 "$PAIRED" --model A --threads 1 --rounds 2 --warmup 0 --compute $pc \
    --target 1.0 --csv "$T/paired.csv" --commit abc1234 >"$T/paired.out" 2>"$T/paired.log"
check "bench_train_paired exits 0 ($pc)" "[ $? -eq 0 ]"
check "paired.csv: one row whose figures follow from the printed rounds" "$PY - '$T/paired.csv' '$T/paired.log' $pc <<'PYEOF'
import csv, re, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rounds = [tuple(map(float, m)) for m in re.findall(r'round \d+: C ([\d.]+) s .* PyTorch ([\d.]+) s .* ratio ([\d.]+)', open(sys.argv[2]).read())]
bad = []
if len(rows) != 1: bad.append('%d rows' % len(rows))
if len(rounds) != 2: bad.append('%d round lines' % len(rounds))
if not bad:
    r = rows[0]
    ratios = [t / c for c, t, _ in rounds]
    if r['compute'] != sys.argv[3] or r['model'] != 'A' or r['rounds'] != '2' or r['commit'] != 'abc1234': bad.append('keys %s' % r)
    if abs(float(r['ratio_median']) - statistics.median(ratios)) > 0.01 * statistics.median(ratios): bad.append('median %s vs %s' % (r['ratio_median'], ratios))
    if not float(r['ratio_min']) <= float(r['ratio_median']) <= float(r['ratio_max']): bad.append('min/median/max')
    if int(r['rounds_met']) != sum(x >= 1.0 for x in ratios): bad.append('rounds_met %s vs %s' % (r['rounds_met'], ratios))
    ctok = 4096 / statistics.median([c for c, _, _ in rounds])
    if abs(float(r['c_tok_s']) - ctok) > 0.01 * ctok: bad.append('c_tok_s %s vs %g' % (r['c_tok_s'], ctok))
    if not re.match(r'\d{4}-\d\d-\d\d \d\d:\d\d$', r['run_utc']) or len(r['load_average'].split()) != 3: bad.append('time/load %s' % r)
    if float(r['peak_gflops']) > 0 and not 0 < float(r['c_peak_frac']) < 1.5: bad.append('peak share %s' % r['c_peak_frac'])
if bad: print('\n'.join('     ' + b for b in bad))
sys.exit(1 if bad else 0)
PYEOF"
"$PAIRED" --model C >"$T/paired_bad.out" 2>&1
check "bench_train_paired: a bad --model is refused (exit 2, usage)" "[ $? -eq 2 ] && grep -q usage '$T/paired_bad.out'"
"$PAIRED" --model A --commit 'a,b' >"$T/paired_bad2.out" 2>&1
check "bench_train_paired: a --commit that would break the CSV is refused (exit 2, usage)" "[ $? -eq 2 ] && grep -q usage '$T/paired_bad2.out'"
AF_SOURCE_DIR=/nonexistent "$PAIRED" --model A --threads 1 --rounds 1 --warmup 0 --compute fp32 --csv "$T/paired.csv" \
    >"$T/paired_nopy.out" 2>&1
check "bench_train_paired: no PyTorch server is an error naming it, and no row" "[ $? -eq 1 ] && grep -q 'PyTorch server' '$T/paired_nopy.out' && [ \$(wc -l < '$T/paired.csv') -eq 2 ]"
[ "$fail" = 0 ] || tail -20 "$T"/*.log
finish
