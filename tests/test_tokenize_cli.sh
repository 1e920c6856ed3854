#!/usr/bin/env bash
# `agentflow tokenize` end to end without npm: the fixed vocabulary through the CLI, a
# small hand-written tokenizer.json, the JSON line formats (escapes, raw invalid UTF-8,
# lone surrogates, decode output that stays valid JSON), and one clear error with exit 2
# for each kind of bad input.
. "$(dirname "$0")/lib.sh"
set -uo pipefail
bin=$AF work=$T
same() { # name want got
    checks=$((checks + 1))
    if [ "$2" != "$3" ]; then echo "FAIL $1: expected [$2] got [$3]"; fail=1; else echo "ok   $1"; fi
}
expect_error() { # name exit-code stderr-substring -- command...
    local name=$1 code=$2 sub=$3
    shift 4
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ $rc -ne "$code" ] || ! grep -q -- "$sub" "$work/err"; then
        echo "FAIL $name: exit $rc (want $code), stderr: $(cat "$work/err")"
        fail=1
    else
        echo "ok   $name: $(head -1 "$work/err")"
    fi
}

# the fixed vocabulary: "calculator " is piece 145, 'A' is 65 - 27 = 38
same "fixed encode" "[145,38]" "$(printf '"calculator A"\n' | "$bin" tokenize --fixed)"
same "fixed decode" '"calculator A"' "$(printf '[100,5,38]\n' | "$bin" tokenize --fixed --decode)"

d=$work/tiny
mkdir -p "$d"
cat >"$d/tokenizer.json" <<'JSON'
{"added_tokens":[{"id":6,"content":"<|end|>","special":true}],
 "normalizer":{"type":"NFC"},
 "pre_tokenizer":{"type":"Sequence","pretokenizers":[
   {"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},
   {"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]},
 "decoder":{"type":"ByteLevel"},
 "model":{"type":"BPE","unk_token":"?","vocab":{"a":0,"b":1,"ab":2,"\u0120":3,"\u00c3":4,"\u00a9":5,"?":7,"\u00e4":8,"\u00b8":9,"\u00ef":10,"\u00bf":11,"\u00bd":12,".":13},
 "merges":["a b"]}}
JSON
echo '{"eos_token": "<|end|>"}' >"$d/tokenizer_config.json"
t() { "$bin" tokenize --model "$d" "$@"; }
same "encode" "[2,3,0,6,1]" "$(printf '"ab a<|end|>b"\n' | t)"
same "--ordinary: special-token text is ordinary text" "[2,3,0,7,7,7,7,7,7,7,1]" "$(printf '"ab a<|end|>b"\n' | t --ordinary)"
same "escapes and newlines in one line" "[0,7,1]" "$(printf '"a\\nb"\n' | t)"
same "NFC (e + U+0301 = C3 A9, e is unk)" "[4,5]" "$(printf '"e\\u0301"\n' | t | sed 's/7,//')"
same "raw invalid UTF-8 becomes U+FFFD" "[10,11,12]" "$(printf '"\xe4\xb8"\n' | t)"
same "lone surrogate escape becomes U+FFFD" "[10,11,12]" "$(printf '"\\ud800"\n' | t)"
same "decode" '"ab a<|end|>b"' "$(printf '[2,3,0,6,1]\n' | t --decode)"
same "decode of half a character is U+FFFD" "$(printf '"\xef\xbf\xbda"')" "$(printf '[8,9,0]\n' | t --decode)"
same "decode cleans up ' .' as the reference" '"a."' "$(printf '[0,3,13]\n' | t --decode)"
same "decode --no-cleanup keeps the bytes" '"a ."' "$(printf '[0,3,13]\n' | t --decode --no-cleanup)"
same "empty string and empty array" "[]" "$(printf '""\n' | t)"
same "empty decode" '""' "$(printf '[]\n' | t --decode)"

expect_error "line that is not a JSON string" 2 "line 2: expected a JSON string" -- \
    sh -c "printf '\"a\"\n[1]\n' | $bin tokenize --model $d"
expect_error "unterminated string" 2 "line 1: unterminated" -- sh -c "printf '\"ab\n' | $bin tokenize --model $d"
expect_error "id out of range" 2 "id 99" -- sh -c "printf '[0,99]\n' | $bin tokenize --model $d --decode"
expect_error "gap id" 2 "id 14" -- sh -c "printf '[14]\n' | $bin tokenize --model $d --decode"
expect_error "not an array" 2 "expected a JSON array" -- sh -c "printf '\"a\"\n' | $bin tokenize --model $d --decode"
expect_error "missing directory" 2 "tokenizer.json" -- "$bin" tokenize --model "$work/none"
expect_error "no model" 2 "exactly one of" -- "$bin" tokenize
b=$work/bad
mkdir -p "$b"
echo '{"model": {"type": "BPE", "vocab": ' >"$b/tokenizer.json"
expect_error "malformed tokenizer.json" 2 "not a JSON object" -- "$bin" tokenize --model "$b"
echo '{"model":{"type":"WordPiece","vocab":{}}}' >"$b/tokenizer.json"
expect_error "unknown model type" 2 "WordPiece" -- "$bin" tokenize --model "$b"
sed 's/"NFC"/"NFKD"/' "$d/tokenizer.json" >"$b/tokenizer.json"
expect_error "unknown normalizer" 2 "NFKD" -- "$bin" tokenize --model "$b"
sed 's/"type":"Split"/"type":"Whitespace"/' "$d/tokenizer.json" >"$b/tokenizer.json"
expect_error "unknown pre-tokenizer" 2 "Whitespace" -- "$bin" tokenize --model "$b"
finish
