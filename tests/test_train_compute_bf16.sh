#!/usr/bin/env bash
# model.compute end to end (issue 19, bf16 training):
#  - without native bf16 (AF_BF16=off, as on a CPU without AVX512-BF16/AMX): auto trains
#    in fp32, says so in the log, and gives the fp32 run's metrics and weights bit for
#    bit; model.compute=bf16 is refused with the reason;
#  - with native bf16: a short train (warm start + 2 RL iterations, 1 learner + 1 actor,
#    model.threads=2) with model.compute=bf16 twice gives identical metrics (timings
#    aside) and weights, different from the fp32 run's (the bf16 products ran); auto
#    equals bf16 here and logs its choice;
#  - model.compute=bf16-fma (the same bf16 inputs, products on the fp32 units) on any CPU
#    (run with AF_BF16=off): twice the same metrics and weights, not the fp32 run's.
# Exit 77 (skip) for the second part when the CPU has no native bf16.
# usage: test_train_compute_bf16.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

easy_game24 "$T/easy.jsonl"
COMMON=(--set suite.name=game24 --set data.train="$T/easy.jsonl" --set data.test="$T/easy.jsonl"
        --set model.d_model=64 --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=1
        --set model.d_ff=96 --set model.max_seq=256 --set rollout.max_turns=2 --set rollout.max_action_tokens=24
        --set rollout.batch_queries=4 --set rollout.group_size=4 --set algo.lr=3e-3 --set log.level=info
        --set log.progress=none --set run.seed=7 --set model.warmstart_steps=20 --set model.warmstart_batch=8
        --set model.warmstart_lr=1e-2 --set run.iterations=2 --set run.eval_every=0 --set model.threads=2)
run() { # name compute [env...]: 1 learner + 1 actor
    local name=$1 compute=$2; shift 2
    env "$@" mpirun -np 2 "$AF" train --run-dir "$T/$name" "${COMMON[@]}" --set model.compute="$compute" \
        > "$T/$name.log" 2>&1
}
same() { # run run: identical metrics (timings aside) and weights
    metrics_strip "$T/$1/metrics.jsonl" > "$T/$1.m"
    metrics_strip "$T/$2/metrics.jsonl" > "$T/$2.m"
    cmp -s "$T/$1.m" "$T/$2.m" && cmp -s "$T/$1/model/model.safetensors" "$T/$2/model/model.safetensors"
}

# 1. fp32 fallback
export AF_BF16=off
run fp32 fp32
check "fp32 run: 2 metrics lines" "[ \$(wc -l < '$T/fp32/metrics.jsonl') -eq 2 ]"
run autooff auto
check "auto without bf16: logs the fp32 choice" "grep -q 'model.compute=auto: fp32 matrix products (AF_BF16=off)' '$T/autooff.log'"
check "auto without bf16 == fp32 (metrics, weights)" "same fp32 autooff"
expect_rc 2 "model.compute=bf16: no native bf16 products here (AF_BF16=off)" \
    env AF_BF16=off "$AF" train --run-dir "$T/refused" "${COMMON[@]}" --set model.compute=bf16
# bf16-fma (bf16 inputs on the fp32 units) runs on any CPU: twice the same, not fp32's
run fmaa bf16-fma
run fmab bf16-fma
check "bf16-fma run: 2 metrics lines" "[ \$(wc -l < '$T/fmaa/metrics.jsonl') -eq 2 ]"
check "bf16-fma twice: identical metrics and weights" "same fmaa fmab"
check "bf16-fma weights differ from fp32's (the rounded inputs)" \
    "! cmp -s '$T/fp32/model/model.safetensors' '$T/fmaa/model/model.safetensors'"
unset AF_BF16

# 2. bf16 (skipped without native bf16)
if ! "$AF" train --run-dir "$T/probe" "${COMMON[@]}" --set model.compute=bf16 --set run.iterations=0 \
        --set model.warmstart_steps=1 > "$T/probe.log" 2>&1; then
    if grep -q "no native bf16" "$T/probe.log"; then
        echo "SKIP: no native bf16 on this CPU (the fp32 fallback was checked)"
        [ $fail -eq 0 ] && exit 77
    fi
    bad "bf16 probe run failed: $(tail -3 "$T/probe.log")"
fi
run bf16a bf16
run bf16b bf16
run auto auto
check "bf16 run: 2 metrics lines" "[ \$(wc -l < '$T/bf16a/metrics.jsonl') -eq 2 ]"
check "bf16 twice: identical metrics and weights" "same bf16a bf16b"
check "bf16 weights differ from fp32's (the bf16 products ran)" \
    "! cmp -s '$T/fp32/model/model.safetensors' '$T/bf16a/model/model.safetensors'"
check "auto with bf16: logs the bf16 choice" "grep -q 'model.compute=auto: bf16 matrix products (avx512' '$T/auto.log'"
check "auto with bf16 == bf16 (metrics, weights)" "same bf16a auto"
finish
