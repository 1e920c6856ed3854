#!/usr/bin/env bash
# agentflow eval end to end: usage errors exit 2; on a trained run directory the report's
# accuracy equals what training measured after its last iteration (eval.jsonl); the
# report is the same at 1 and 3 ranks (questions spread over ranks); --dataset, --n,
# --max-turns and --split change what is evaluated, and the totals match the per-question
# results; --samples K gives pass@k and mean@k (against exact fractions), --results the
# per-question JSONL; training's run.eval_samples writes the pass@k of the same episodes
# into eval.jsonl, at 1 rank and spread over 1 learner + 2 actors; run.eval_train the
# greedy accuracy on training questions; a run's relative paths are recorded absolute.
# usage: test_eval_cli.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

easy_game24 "$T/easy.jsonl"
"$AF" train --run-dir "$T/run" --set suite.name=game24 --set data.train="$T/easy.jsonl" --set suite.max_test=40 \
    --set model.d_model=32 --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=1 --set model.d_ff=64 \
    --set model.max_seq=256 --set rollout.max_turns=2 --set rollout.max_action_tokens=24 --set rollout.batch_queries=4 \
    --set rollout.group_size=4 --set model.warmstart_steps=300 --set model.warmstart_batch=16 \
    --set model.warmstart_lr=1e-2 --set run.iterations=2 --set run.eval_every=2 --set run.eval_samples=6 \
    --set log.progress=none --set log.level=warn > "$T/train.log" 2>&1

expect_rc 0 "usage" "$AF" eval --help
expect_rc 2 "required" "$AF" eval
expect_rc 2 "exclude" "$AF" eval --run-dir "$T/run" --model "$T/run/model"
expect_rc 2 "expected test or train" "$AF" eval --run-dir "$T/run" --split valid
expect_rc 2 "max-turns" "$AF" eval --run-dir "$T/run" --max-turns 0
expect_rc 2 "cannot read" "$AF" eval --run-dir "$T/run" --dataset "$T/missing.jsonl"
expect_rc 2 "unknown" "$AF" eval --run-dir "$T/run" --bogus
expect_rc 1 "config.json" "$AF" eval --model "$T/nothing-here" --set suite.name=game24

summary() { $PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
r = d['results']
assert len(r) == d['questions'], 'one result per question'
assert [x['index'] for x in r] == list(range(len(r))), 'question order'
assert sum(x['correct'] for x in r) == d['correct'], 'correct count'
assert abs(sum(x['reward'] for x in r) / max(1, len(r)) - d['reward_mean']) < 1e-6, 'reward mean'
print(json.dumps({k: v for k, v in d.items() if k not in ('eval_s', 'ranks')}, sort_keys=True))
" "$1"; }

"$AF" eval --run-dir "$T/run" --greedy > "$T/e1.json" 2> "$T/e1.err"
check "report is consistent (np 1)" "summary '$T/e1.json' > '$T/e1.s'"
mpirun -np 3 "$AF" eval --run-dir "$T/run" --greedy > "$T/e3.json" 2> "$T/e3.err"
check "report is consistent (np 3)" "summary '$T/e3.json' > '$T/e3.s'"
check "np 3 report == np 1 report" "cmp -s '$T/e1.s' '$T/e3.s'"
check "eval honours the run's suite.max_test=40 (the world training evaluated on)" \
    "[ \$($PY -c \"import json; print(json.load(open('$T/e1.json'))['questions'])\") -eq 40 ]"
"$AF" eval --run-dir "$T/run" --greedy --set suite.max_test=0 > "$T/eall.json"
check "--set suite.max_test=0: the whole test split" \
    "[ \$($PY -c \"import json; print(json.load(open('$T/eall.json'))['questions'])\") -gt 40 ]"
"$AF" eval --run-dir "$T/run" --greedy --n 40 > "$T/e40.json"
check "--n 40: accuracy equals training's final eval" "$PY -c \"
import json
a = json.load(open('$T/e40.json'))['accuracy']
b = [json.loads(l) for l in open('$T/run/eval.jsonl')][-1]['accuracy']
assert abs(a - b) < 1e-9, (a, b)\""
"$AF" eval --run-dir "$T/run" --greedy --dataset "$T/easy.jsonl" --max-turns 1 > "$T/ed.json"
check "--dataset, --max-turns 1" "$PY -c \"
import json
d = json.load(open('$T/ed.json'))
assert d['questions'] == 6 and d['max_turns'] == 1 and d['split'] == 'dataset'
assert all(x['turns'] <= 1 for x in d['results'])\""
"$AF" eval --run-dir "$T/run" --split train --n 5 > "$T/et.json"
check "--split train --n 5" "$PY -c \"import json; d = json.load(open('$T/et.json')); assert d['questions'] == 5 and d['split'] == 'train'\""

# --samples K: pass@k and mean@k from K sampled episodes per question (samples 0..K-1 of
# iteration 0's streams), checked against exact fractions of the per-question counts;
# sample 0 is the default (sampled) evaluation's episode; the same at 1 and 3 ranks.
expect_rc 2 "samples" "$AF" eval --run-dir "$T/run" --samples 0
"$AF" eval --run-dir "$T/run" --n 24 > "$T/s0.json" 2> "$T/s0.err"
"$AF" eval --run-dir "$T/run" --n 24 --samples 1 > "$T/s1.json" 2> "$T/s1.err"
"$AF" eval --run-dir "$T/run" --greedy --n 24 --samples 6 --results "$T/s6.jsonl" > "$T/s6.json" 2> "$T/s6.err"
mpirun -np 3 "$AF" eval --run-dir "$T/run" --greedy --n 24 --samples 6 > "$T/s6np3.json" 2> "$T/s6np3.err"
check "--samples 1: each question's count is the default evaluation's (sample 0)" "$PY -c \"
import json
a = json.load(open('$T/s0.json'))['results']; b = json.load(open('$T/s1.json'))['results']
assert [int(x['correct']) for x in a] == [x['samples_correct'] for x in b]\""
check "--samples 6: pass@k and mean@k are the unbiased estimates of the counts (exact fractions)" "$PY - '$T/s6.json' <<'PYEOF'
import json, sys
from fractions import Fraction
from math import comb
d = json.load(open(sys.argv[1]))
K, c = d['samples'], [r['samples_correct'] for r in d['results']]
assert K == 6 and len(c) == 24 and set(d['pass_at_k']) == {'1', '2', '4', '6'}, d['pass_at_k']
assert 0 < sum(c) < 6 * 24, c  # some sampled episodes solve, some fail
for k, v in d['pass_at_k'].items():
    k = int(k)
    want = sum(1 - Fraction(comb(K - x, k), comb(K, k)) for x in c) / len(c)
    assert abs(v - float(want)) < 1e-9, (k, v, float(want))
assert abs(d['mean_at_k'] - sum(c) / (K * len(c))) < 1e-6 and abs(d['pass_at_k']['1'] - d['mean_at_k']) < 1e-6
assert d['pass_at_k']['6'] == sum(x > 0 for x in c) / len(c)
PYEOF"
check "--results: the report's results as JSONL" "$PY -c \"
import json
d = json.load(open('$T/s6.json'))['results']
r = [json.loads(l) for l in open('$T/s6.jsonl')]
assert r == d and len(r) == 24\""
check "--samples: np 3 report == np 1 report" "[ \"\$(summary '$T/s6.json')\" = \"\$(summary '$T/s6np3.json')\" ]"

# run.eval_samples: training's evaluations carry pass@k of the episodes `eval --samples`
# runs (samples 0..K-1 of iteration 0's streams): before the first iteration on the warm
# start, after the last on the final planner; the same with the questions spread over a
# learner and two actors (the counts are summed onto rank 0)
"$AF" eval --run-dir "$T/run" --n 40 --samples 6 > "$T/fin6.json" 2> "$T/fin6.err"
"$AF" eval --model "$T/run/warmstart" --config "$T/run/config.json" --n 40 --samples 6 > "$T/ws6.json" 2> "$T/ws6.err"
mpirun -np 3 "$AF" train --run-dir "$T/run3" --config "$T/run/config.json" --init-from "$T/run/warmstart" \
    --set model.warmstart_steps=0 --set run.iterations=0 --set topology.learners=1 > "$T/train3.log" 2>&1
check "run.eval_samples: eval.jsonl's pass@k equals eval --samples 6 (warm start, final planner, np 3)" "$PY - '$T' <<'PYEOF'
import json, sys
t = sys.argv[1]
lines = [json.loads(l) for l in open(t + '/run/eval.jsonl')]
assert [l['iteration'] for l in lines] == [0, 2], lines
for l in lines:
    assert l['samples'] == 6 and set(l['pass_at_k']) == {'1', '2', '4', '6'}, l
    assert abs(l['pass_at_k']['1'] - l['mean_at_k']) < 1e-6, l
    assert all(0 <= v <= 1 for v in l['pass_at_k'].values()), l
    assert l['pass_at_k']['1'] <= l['pass_at_k']['2'] <= l['pass_at_k']['4'] <= l['pass_at_k']['6'], l
for line, report in ((lines[0], 'ws6'), (lines[1], 'fin6')):
    r = json.load(open(t + '/' + report + '.json'))
    assert r['questions'] == line['questions'] == 40, (r['questions'], line)
    for k, v in r['pass_at_k'].items():
        assert abs(line['pass_at_k'][k] - v) < 1e-6, (report, k, line['pass_at_k'][k], v)
    assert abs(line['mean_at_k'] - r['mean_at_k']) < 1e-6, report
assert 0 < lines[0]['pass_at_k']['6'], lines[0]  # the warm start solves some
l3 = json.loads(open(t + '/run3/eval.jsonl').readline())
assert l3['iteration'] == 0 and l3['pass_at_k'] == lines[0]['pass_at_k'] and l3['accuracy'] == lines[0]['accuracy'], (l3, lines[0])
PYEOF"
expect_rc 2 "run.eval_samples" "$AF" train --run-dir "$T/bad" --config "$T/run/config.json" --set run.eval_samples=2000

# run.eval_train: each evaluation also gives the greedy accuracy on the first N training
# questions (all of them when fewer), the value `eval --split train --n N --greedy` gives
# for the same planner (warm start, final); turning it on changes no training bit; spread
# over 1 learner + 2 actors the counts are summed on rank 0
TR=(--config "$T/run/config.json" --init-from "$T/run/warmstart" --set model.warmstart_steps=0 --set run.eval_samples=0)
"$AF" train --run-dir "$T/tr" "${TR[@]}" --set run.eval_train=4 > "$T/tr.log" 2>&1
"$AF" train --run-dir "$T/tr0" "${TR[@]}" > "$T/tr0.log" 2>&1
mpirun -np 3 "$AF" train --run-dir "$T/tr3" "${TR[@]}" --set run.eval_train=100 --set run.iterations=0 \
    --set topology.learners=1 > "$T/tr3.log" 2>&1
"$AF" eval --model "$T/run/warmstart" --config "$T/run/config.json" --split train --n 4 --greedy > "$T/trws.json" 2>/dev/null
"$AF" eval --run-dir "$T/tr" --split train --n 4 --greedy > "$T/trfin.json" 2>/dev/null
"$AF" eval --model "$T/run/warmstart" --config "$T/run/config.json" --split train --greedy > "$T/trall.json" 2>/dev/null
check "run.eval_train: train_accuracy equals eval --split train (warm start, final, np 3); training unchanged" "$PY - '$T' <<'PYEOF'
import json, sys
t = sys.argv[1]
ev = [json.loads(l) for l in open(t + '/tr/eval.jsonl')]
assert [e['iteration'] for e in ev] == [0, 2], ev
for e, rep in zip(ev, ('trws', 'trfin')):
    r = json.load(open(t + '/' + rep + '.json'))
    assert r['split'] == 'train' and r['questions'] == 4 == e['train_questions'], (r['questions'], e)
    assert abs(e['train_accuracy'] - r['accuracy']) < 1e-6, (rep, e, r['accuracy'])
ev0 = [json.loads(l) for l in open(t + '/tr0/eval.jsonl')]
assert all('train_accuracy' not in e for e in ev0), ev0
assert [e['accuracy'] for e in ev0] == [e['accuracy'] for e in ev], (ev0, ev)
skip = lambda k: k.startswith(('time/', 'perf/', 'rollout_s', 'learn_s', 'broadcast_s', 'checkpoint_s', 'wait_s', 'iteration_s', 'trajectories_per_s', 'tokens_per_s', 'learner_tokens_per_s'))
m = [{k: v for k, v in json.loads(l).items() if not skip(k)} for l in open(t + '/tr/metrics.jsonl')]
m0 = [{k: v for k, v in json.loads(l).items() if not skip(k)} for l in open(t + '/tr0/metrics.jsonl')]
assert len(m) == 2 and m == m0, 'training differs with run.eval_train'
e3 = json.loads(open(t + '/tr3/eval.jsonl').readline())
ra = json.load(open(t + '/trall.json'))
assert e3['iteration'] == 0 and e3['train_questions'] == 6 == ra['questions'], (e3, ra['questions'])
assert abs(e3['train_accuracy'] - ra['accuracy']) < 1e-6, (e3, ra['accuracy'])
PYEOF"

# a run started with relative paths records them absolute (model.init_from, data.train),
# so `ckpt export` (which reads model.init_from's config) and a resume work from any
# directory; a relative --config of the same run resumes from the directory it was made in
mkdir -p "$T/rel"
cp "$T/easy.jsonl" "$T/rel/easy-rel.jsonl"
(cd "$T/rel" && "$AF" train --run-dir relrun --config ../run/config.json --init-from ../run/warmstart \
    --set data.train=./easy-rel.jsonl --set model.warmstart_steps=0 --set run.iterations=1 --set run.eval_every=0 \
    --set run.eval_samples=0 > ../rel-train.log 2>&1)
check "relative paths recorded absolute in RUN_DIR/config.json" "$PY - '$T' <<'PYEOF'
import json, os, sys
t = os.path.realpath(sys.argv[1])
c = json.load(open(t + '/rel/relrun/config.json'))
assert os.path.realpath(c['model']['init_from']) == t + '/run/warmstart', c['model']['init_from']
assert os.path.realpath(c['data']['train']) == t + '/rel/easy-rel.jsonl', c['data']['train']
assert c['data']['test'] == '', c['data']['test']
PYEOF"
expect_rc 0 "exported" bash -c "cd / && '$AF' ckpt export --run-dir '$T/rel/relrun' --out '$T/rel-export'"
expect_rc 0 "" bash -c "cd / && '$AF' train --run-dir '$T/rel/relrun' --resume --set run.iterations=2 --set log.progress=none"
expect_rc 0 "" bash -c "cd '$T/rel' && '$AF' train --run-dir relrun --config ../run/config.json --resume --init-from ../run/warmstart \
    --set data.train=easy-rel.jsonl --set model.warmstart_steps=0 --set run.iterations=3 --set run.eval_every=0 \
    --set run.eval_samples=0 --set log.progress=none"
expect_rc 2 "data.train" bash -c "cd '$T' && '$AF' train --run-dir rel/relrun --config run/config.json --resume --init-from run/warmstart \
    --set data.train=easy.jsonl --set model.warmstart_steps=0 --set run.iterations=4 --set run.eval_every=0 --set run.eval_samples=0"

if [ $fail -ne 0 ]; then tail -n 5 "$T"/*.log "$T"/*.err; fi
finish
