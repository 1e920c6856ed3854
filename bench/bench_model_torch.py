#!/usr/bin/python3
"""PyTorch side of bench/bench_model.c: the same training step (forward, PG-style loss on
per-token log-probs, backward, grad clip, AdamW) and KV-cache decode, float32, with the
reference model of tests/model_ref.py; and the decode in PyTorch's bf16 modes on a CPU:
"bf16w" (every weight, the activations and the KV cache in bf16) and "autocast" (fp32
weights under torch.autocast("cpu", bfloat16)), the faster of which is the reference of
the C decoder in bf16. Training figures are medians over the timed steps (after
--warmup steps, 3 by default: PyTorch's autocast step still speeds up over its first two
or three steps, by about 20% for model B). Prints two lines:
TORCH train_tok_s=.. train_gflops=.. dec1_tok_s=.. dec16_tok_s=.. dec1_cpu=.. dec16_cpu=..
TORCHBF16 dec1_tok_s=.. dec1_mode=.. dec16_tok_s=.. dec16_mode=.. dec1_cpu=.. dec16_cpu=.. (...)
(*_cpu: tokens per CPU second of the process, that mode; --no-train: train figures 0),
and with --bf16 (unless --no-train) a third, the training step under CPU autocast to
bfloat16 (the matrix products in bf16, fp32 master weights and optimizer: what a PyTorch
user picks on a CPU with AVX512-BF16/AMX):
TORCH_BF16 train_tok_s=..
With --serve fp32|autocast it runs training steps on request instead (see serve()).
Run with OPENBLAS_NUM_THREADS/OMP_NUM_THREADS set to
--threads (bench_model does)."""
import contextlib
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from model_ref import Model  # noqa: E402

MODELS = {
    "A": dict(V=512, C=256, L=4, H=4, F=704, B=16, T=256),
    "B": dict(V=2048, C=512, L=8, H=8, F=1408, B=8, T=512),
}


def make(m):
    g = torch.Generator().manual_seed(1)
    C, V, F, L = m["C"], m["V"], m["F"], m["L"]
    p = {"model.embed_tokens.weight": torch.randn(V, C, generator=g) * 0.02}
    for l in range(L):
        pre = f"model.layers.{l}."
        for n, s in [("input_layernorm.weight", (C,)), ("post_attention_layernorm.weight", (C,))]:
            p[pre + n] = torch.ones(s)
        for n in ["q_proj", "k_proj", "v_proj", "o_proj"]:
            p[pre + "self_attn." + n + ".weight"] = torch.randn(C, C, generator=g) * 0.02
        p[pre + "mlp.gate_proj.weight"] = torch.randn(F, C, generator=g) * 0.02
        p[pre + "mlp.up_proj.weight"] = torch.randn(F, C, generator=g) * 0.02
        p[pre + "mlp.down_proj.weight"] = torch.randn(C, F, generator=g) * 0.02
    p["model.norm.weight"] = torch.ones(C)
    p["lm_head.weight"] = torch.randn(V, C, generator=g) * 0.02
    cfg = {"hidden_size": C, "num_attention_heads": m["H"], "num_key_value_heads": m["H"],
           "num_hidden_layers": L, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
           "tie_word_embeddings": False, "vocab_size": V, "intermediate_size": F}
    return cfg, p


def flops_fwd(m):
    C, F, L, V, B, T = m["C"], m["F"], m["L"], m["V"], m["B"], m["T"]
    per_tok = 4 * C * C + 3 * C * F
    att = B * T * (T + 1) / 2 * C * 2
    return 2.0 * (L * (B * T * per_tok + att) + B * T * C * V)


def trainer(m, bf16=False):
    """One training step of model m as a function returning its (wall, CPU) seconds."""
    cfg, p = make(m)
    for t in p.values():
        t.requires_grad_(True)
    model = Model(cfg, p)
    opt = torch.optim.AdamW(list(p.values()), lr=1e-6, weight_decay=0.01)
    g = torch.Generator().manual_seed(2)
    toks = torch.randint(0, m["V"], (m["B"], m["T"]), generator=g)
    w = torch.full((m["B"], m["T"] - 1), 1.0 / (m["B"] * m["T"]))

    def step():
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            z = model.logits(toks)
        lp = torch.log_softmax(z[:, :-1].float(), -1).gather(2, toks[:, 1:, None])[..., 0]
        loss = -(w * lp).sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
        opt.step()
        return time.perf_counter() - t0, time.process_time() - c0
    return step


def train(m, steps, bf16=False, warmup=3):
    step = trainer(m, bf16)
    times, cpu = [], 0.0
    for it in range(steps + warmup):
        dt, dc = step()
        if it >= warmup:
            times.append(dt)
            cpu += dc
    t = statistics.median(times)
    return m["B"] * m["T"] / t, 3 * flops_fwd(m) / t / 1e9, m["B"] * m["T"] * steps / cpu


def serve(m, bf16, warmup):
    """--serve: the training step on request, for bench/bench_train_paired.c, which
    alternates it with its own. After the warm-up steps prints READY; then each line
    STEP on stdin runs one step and prints "STEP <wall s> <CPU s>"; EOF or QUIT ends."""
    step = trainer(m, bf16)
    for _ in range(warmup):
        step()
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() != "STEP":
            break
        dt, dc = step()
        print(f"STEP {dt:.6f} {dc:.6f}", flush=True)


@torch.no_grad()
def decode(m, B, ntok, prompt=16, mode="fp32"):
    """mode: fp32 | bf16w (weights, activations, cache in bf16) | autocast (bf16 autocast)"""
    cfg, p = make(m)
    md = Model(cfg, p)
    C, H, L, V = m["C"], m["H"], m["L"], m["V"]
    hd = C // H
    maxT = prompt + ntok + 1
    dt = torch.bfloat16 if mode == "bf16w" else torch.float32
    kc = torch.zeros(L, B, H, maxT, hd, dtype=dt)
    vc = torch.zeros(L, B, H, maxT, hd, dtype=dt)
    cos_all, sin_all = md.rope(maxT)
    if mode == "bf16w":
        p = {k: v.to(torch.bfloat16) for k, v in p.items()}
        cos_all, sin_all = cos_all.to(torch.bfloat16), sin_all.to(torch.bfloat16)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "autocast" else contextlib.nullcontext()
    gen = torch.Generator().manual_seed(3)

    def step(tok, pos):  # tok (B, n) at positions pos..pos+n-1
        n = tok.shape[1]
        x = p["model.embed_tokens.weight"][tok]
        cos, sin = cos_all[pos:pos + n], sin_all[pos:pos + n]
        mask = torch.full((n, pos + n), float("-inf"), dtype=dt).triu(pos + 1)
        for l in range(L):
            pre = f"model.layers.{l}."
            h = md.rms(x, p[pre + "input_layernorm.weight"])
            q = (h @ p[pre + "self_attn.q_proj.weight"].t()).view(B, n, H, hd).transpose(1, 2)
            k = (h @ p[pre + "self_attn.k_proj.weight"].t()).view(B, n, H, hd).transpose(1, 2)
            v = (h @ p[pre + "self_attn.v_proj.weight"].t()).view(B, n, H, hd).transpose(1, 2)
            q = q * cos + md.rot_half(q) * sin
            k = k * cos + md.rot_half(k) * sin
            kc[l, :, :, pos:pos + n] = k
            vc[l, :, :, pos:pos + n] = v
            K, Vv = kc[l, :, :, :pos + n], vc[l, :, :, :pos + n]
            a = torch.softmax(q @ K.transpose(-1, -2) / hd ** 0.5 + mask, -1) @ Vv
            x = x + a.transpose(1, 2).reshape(B, n, C) @ p[pre + "self_attn.o_proj.weight"].t()
            h = md.rms(x, p[pre + "post_attention_layernorm.weight"])
            x = x + (torch.nn.functional.silu(h @ p[pre + "mlp.gate_proj.weight"].t()) *
                     (h @ p[pre + "mlp.up_proj.weight"].t())) @ p[pre + "mlp.down_proj.weight"].t()
        x = md.rms(x[:, -1], p["model.norm.weight"])
        return x @ p["lm_head.weight"].t()

    toks = (torch.arange(B)[:, None] * 31 + torch.arange(prompt)[None] * 7) % V
    with ctx:
        z = step(toks, 0)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(ntok):
            lsm = torch.log_softmax(z.float(), -1)
            nxt = torch.multinomial(lsm.exp(), 1, generator=gen)
            lsm.gather(1, nxt)  # behaviour log-prob
            z = step(nxt, prompt + i)
    return B * ntok / (time.perf_counter() - t0), B * ntok / (time.process_time() - c0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="A")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps before the timed ones")
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="also train under bf16 autocast (not with --no-train)")
    ap.add_argument("--bf16-train-only", action="store_true", help="only the bf16 autocast training line")
    ap.add_argument("--serve", choices=["fp32", "autocast"],
                    help="training steps on request (stdin STEP), fp32 or under bf16 autocast")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = MODELS[a.model]
    if a.serve:
        serve(m, a.serve == "autocast", a.warmup)
        return
    if a.bf16_train_only:
        bf_tok_s, _, bf_cpu = train(m, a.steps, bf16=True, warmup=a.warmup)
        print(f"TORCH_BF16 train_tok_s={bf_tok_s:.1f} train_cpu_tok_s={bf_cpu:.1f}")
        return
    tok_s, gf, _ = (0.0, 0.0, 0.0) if a.no_train else train(m, a.steps, warmup=a.warmup)
    d1, d1c = decode(m, 1, a.decode_tokens)
    d16, d16c = decode(m, 16, a.decode_tokens)
    print(f"TORCH train_tok_s={tok_s:.1f} train_gflops={gf:.2f} dec1_tok_s={d1:.2f} dec16_tok_s={d16:.2f} "
          f"dec1_cpu={d1c:.2f} dec16_cpu={d16c:.2f}", flush=True)
    best, detail = {}, []
    for B in (1, 16):
        r = {mode: decode(m, B, a.decode_tokens, mode=mode) for mode in ("bf16w", "autocast")}
        best[B] = max(r.items(), key=lambda kv: kv[1][0])
        detail.append(f"batch {B}: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in r.items()))
    print(f"TORCHBF16 dec1_tok_s={best[1][1][0]:.2f} dec1_mode={best[1][0]} dec16_tok_s={best[16][1][0]:.2f} "
          f"dec16_mode={best[16][0]} dec1_cpu={best[1][1][1]:.2f} dec16_cpu={best[16][1][1]:.2f} "
          f"({'; '.join(detail)})", flush=True)
    if a.bf16 and not a.no_train:
        bf_tok_s, _, bf_cpu = train(m, a.steps, bf16=True, warmup=a.warmup)
        print(f"TORCH_BF16 train_tok_s={bf_tok_s:.1f} train_cpu_tok_s={bf_cpu:.1f}")


if __name__ == "__main__":
    main()
