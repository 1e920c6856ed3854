#!/bin/bash
# agentflow score end to end: usage errors and malformed model directories exit 2, a
# missing directory exits 1, each with a message naming the problem, and a good directory prints one finite log-prob <= 0 per
# token after the first. (The values themselves are compared with PyTorch, in both
# directions of model directory, by tests/model_ref.py.)
. "$(dirname "$0")/lib.sh"
set -u
AF_BIN=$AF BUILD=${AF_BUILD_DIR:-build} tmp=$T
expect() { expect_rc "$@"; }
"$BUILD/model_ref_dump" make "$tmp/m" 2 1 0 || { echo "FAIL: model_ref_dump"; exit 1; }
expect 0 "usage" "$AF_BIN" score --help
expect 2 "required" "$AF_BIN" score --model "$tmp/m"
expect 2 "unknown option" "$AF_BIN" score --model "$tmp/m" --tokens "1 2" --bogus 1
expect 2 "not a non-negative integer" "$AF_BIN" score --model "$tmp/m" --tokens "1 x 3"
expect 2 "vocabulary" "$AF_BIN" score --model "$tmp/m" --tokens "1 2 99999"
expect 2 "temperature" "$AF_BIN" score --model "$tmp/m" --tokens "1 2" --temperature 0
expect 1 "config.json" "$AF_BIN" score --model "$tmp/nonexistent" --tokens "1 2"
mkdir -p "$tmp/bad" && cp "$tmp/m/config.json" "$tmp/bad/" && head -c 100 "$tmp/m/model.safetensors" > "$tmp/bad/model.safetensors"
expect 2 "model.safetensors" "$AF_BIN" score --model "$tmp/bad" --tokens "1 2"
out=$("$AF_BIN" score --model "$tmp/m" --tokens "3 1 4 1 5 9 2 6")
n=$(/usr/bin/python3 -c 'import json,sys,math; v=json.loads(sys.argv[1])["logprobs"]; assert all(x<=0 and math.isfinite(x) for x in v); print(len(v))' "$out") || { echo "FAIL: bad JSON: $out"; fail=1; }
[ "${n:-0}" = 7 ] || { echo "FAIL: expected 7 log-probs, got ${n:-none}: $out"; fail=1; }
finish
