#!/usr/bin/env bash
# launch/game24_hard.py (issue 18's hard held-out game24 set), on the puzzles over 1..7:
#  - the three files partition the solvable puzzles: no held-out puzzle (hard or random
#    test) is in the training split, and none is lost or repeated;
#  - the hard set is the puzzles whose first steps keep them solvable least often: every
#    training puzzle's share is at least the largest share in the hard set;
#  - the suite's own solver (the oracle planner, env/numbers_solver.c) solves every hard
#    puzzle, i.e. the set holds real game24 puzzles in the suite's format.
# usage: test_game24_hard.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

"$PY" "$SRC/launch/game24_hard.py" --out "$T/h" --max 7 --hard 10 --test 10 > "$T/gen.json"
check "10 hard, 10 test, 150 training puzzles" \
    "[ \$(wc -l < '$T/h/hard.jsonl') -eq 10 ] && [ \$(wc -l < '$T/h/test.jsonl') -eq 10 ] && [ \$(wc -l < '$T/h/train.jsonl') -eq 150 ]"
check "the splits are disjoint and cover 170 distinct puzzles" \
    "[ \$(cat '$T/h/hard.jsonl' '$T/h/test.jsonl' '$T/h/train.jsonl' | sort -u | wc -l) -eq 170 ]"
check "every training puzzle keeps a larger share of first steps solvable than the hard set's largest" "$PY - '$SRC' '$T/h' <<'PYEOF'
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('h', sys.argv[1] + '/launch/game24_hard.py')
h = importlib.util.module_from_spec(spec); spec.loader.exec_module(h)
load = lambda n: [json.loads(l)['question'] for l in open(sys.argv[2] + '/' + n)]
worst = max(h.score(map(int, q.split()))[0] for q in load('hard.jsonl'))
sys.exit(0 if worst < 0.06 and all(h.score(map(int, q.split()))[0] >= worst for q in load('train.jsonl')) else 1)
PYEOF"
"$AF" rollout --suite game24 --planner oracle --n all --json --set data.test="$T/h/hard.jsonl" > "$T/oracle.jsonl" 2> "$T/oracle.err"
check "the oracle solves every hard puzzle" \
    "tail -n 1 '$T/oracle.jsonl' | $PY -c 'import json,sys; s=json.load(sys.stdin)[\"summary\"]; sys.exit(0 if s[\"episodes\"] == 10 and s[\"accuracy\"] == 1 else 1)'"
finish
