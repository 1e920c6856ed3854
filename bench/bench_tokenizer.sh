#!/usr/bin/env bash
# Encode MB/s of agentflow's tokenizer against the JavaScript reference (@lenml/tokenizers)
# in one run, on the same seeded corpus (tests/hf/gen_corpus.py) and the same real
# tokenizer files (npm, tests/hf/install_npm.sh). Prints one line per model and the ratio,
# and writes BUILD/bench_tokenizer.csv.
#   bench/bench_tokenizer.sh [BUILD_DIR] [COUNT] [REPEATS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
count=${2:-20000}
repeats=${3:-2}
nm=$(AF_BUILD_DIR=$build bash "$root/tests/hf/install_npm.sh")
corpus=$build/bench_tokenizer_corpus.jsonl
/usr/bin/python3 "$root/tests/hf/gen_corpus.py" 7 "$count" >"$corpus"
csv=$build/bench_tokenizer.csv
echo "model,bytes,c_seconds,c_mb_per_s,js_seconds,js_mb_per_s,ratio,c_cpu_seconds,js_cpu_seconds,cpu_ratio" >"$csv"
echo "corpus: $count strings, $(wc -c <"$corpus") bytes of JSON lines, $repeats passes each"
for m in qwen3 llama3 gpt2; do
    dir="$nm/@lenml/tokenizer-$m/models"
    c=$("$build/bench_tokenizer" "$dir" "$corpus" "$repeats")
    js=$(node "$root/tests/hf/ref_tokenize.mjs" "$nm" "$dir" --bench "$repeats" <"$corpus")
    python3 - "$m" "$c" "$js" "$csv" <<'PY'
import json, sys
m, c, js, csv = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
cm, jm = c["bytes"] / 1e6 / c["seconds"], js["bytes"] / 1e6 / js["seconds"]
cc, jc = c["bytes"] / 1e6 / c["cpu_seconds"], js["bytes"] / 1e6 / js["cpu_seconds"]
assert c["tokens"] == js["tokens"], f"token counts differ: {c['tokens']} vs {js['tokens']}"
print(f"{m:8s} wall: C {cm:6.2f} MB/s, JavaScript {jm:5.2f} MB/s, ratio {cm / jm:5.1f}x   "
      f"CPU: C {cc:6.2f} MB/s, JavaScript {jc:5.2f} MB/s, ratio {cc / jc:5.1f}x   ({c['tokens']} tokens)")
open(csv, "a").write(f"{m},{c['bytes']},{c['seconds']:.4f},{cm:.3f},{js['seconds']:.4f},{jm:.3f},{cm / jm:.2f},"
                     f"{c['cpu_seconds']:.4f},{js['cpu_seconds']:.4f},{cc / jc:.2f}\n")
PY
done
