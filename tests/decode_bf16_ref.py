#!/usr/bin/python3
"""The decoder's bf16 products (rollout.decode_dtype bf16, common/decode.h) against
PyTorch, on a Qwen2.5-shaped tiny model (the real vocabulary of 151,936, GQA, q/k/v
biases, tied embeddings; tests/model_families.py's config with hidden 48, intermediate
176 so that the products have k tails) and a small random Llama-style model (untied, no
biases), each at two weight scales: std 0.3 (tests/model_ref.py's, sharp distributions)
and 0.05. One 48-token sequence, prefill 17, then one token at a time
(model_ref_dump decode / decode-bf16). Checks, on the log-probs of the sequence's tokens:
  1. C fp32 decode vs torch fp32: max |diff| <= 1e-4 (as test_model_families);
  2. C bf16 decode vs torch with exactly the C rounding (every product's input and weight
     rounded to bf16, round to nearest even, products summed in float64, everything else
     fp32): max |diff| <= 1e-2 at std 0.3, 2e-4 at 0.05. Beyond the fp32 accumulation,
     an activation whose fp32 value differs in its last bit between C and torch (their
     attention sums differ in order) can round to the neighbouring bf16 value; with the
     sharp std 0.3 weights such a flip moved a log-prob by 3.9e-3 (Qwen-shaped model,
     measured), at 0.05 none occurred (1e-7);
  3. C bf16 vs torch fp32: max |diff| <= 1.5 x that of PyTorch's own bf16 autocast
     (torch.autocast("cpu", bfloat16) on fp32 weights) vs fp32, + 1e-3: bf16 decoding here
     is no less accurate than PyTorch's;
and prints the differences to torch fp32, autocast and bf16 weights (model cast to
bfloat16) for the record. Exits non-zero on any failure."""
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_families  # noqa: E402
import model_ref  # noqa: E402
from model_ref import FAILS, Model  # noqa: E402


def bf16_linear(x, w, b):
    """What the C bf16 product computes: inputs and weights rounded to bf16, exact
    products, a wide sum, the fp32 bias."""
    y = x.to(torch.bfloat16).double() @ w.to(torch.bfloat16).double().t()
    if b is not None:
        y = y + b.double()
    return y.float()


def logprobs(cfg, params, toks, linear=None, autocast=False, cast=None):
    if cast is not None:
        params = {k: v.to(cast) for k, v in params.items()}
    if autocast:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = Model(cfg, params, linear).logits(toks[None])[0]
    else:
        z = Model(cfg, params, linear).logits(toks[None])[0]
    return torch.log_softmax(z.double(), -1)[:-1].gather(1, toks[1:, None])[:, 0]


def c_decode(build, mode, d, toks, P):
    res = subprocess.run([os.path.join(build, "model_ref_dump"), mode, d, str(P)] + [str(int(t)) for t in toks],
                         capture_output=True, text=True)
    if res.returncode != 0:
        FAILS.append(f"{mode} {d}: exit {res.returncode}: {res.stderr.strip()}")
        return None
    return torch.tensor(json.loads(res.stdout)["logprobs"], dtype=torch.float64)


def check(build, tmp, label, cfg, scale, seed):
    p = model_families.random_params(cfg, seed)
    p = {k: (v if "norm" in k else v * (scale / 0.3)) for k, v in p.items()}
    d = os.path.join(tmp, f"{label}_{scale}".replace(" ", "_"))
    p = model_families.write_dir(d, cfg, p, "F32")
    toks = torch.randint(0, cfg["vocab_size"], (48,), generator=torch.Generator().manual_seed(seed))
    P = 17
    with torch.no_grad():
        ref = logprobs(cfg, p, toks)[P - 1:]
        exact = logprobs(cfg, p, toks, linear=bf16_linear)[P - 1:]
        auto = logprobs(cfg, p, toks, autocast=True)[P - 1:]
        bf16w = logprobs(cfg, p, toks, autocast=True, cast=torch.bfloat16)[P - 1:]
    c32, c16 = c_decode(build, "decode", d, toks, P), c_decode(build, "decode-bf16", d, toks, P)
    if c32 is None or c16 is None:
        return

    def mx(a, b):
        return (a - b).abs().max().item()

    def mean(a, b):
        return (a - b).abs().mean().item()
    tag = f"{label}, weights std {scale}"
    print(f"{tag}: |log-prob diff| max (mean) over {len(ref)} tokens, reference torch fp32:\n"
          f"  C fp32 decode {mx(c32, ref):.2g}; C bf16 decode {mx(c16, ref):.3g} ({mean(c16, ref):.2g}); "
          f"torch bf16 autocast {mx(auto, ref):.3g} ({mean(auto, ref):.2g}); torch bf16 weights {mx(bf16w, ref):.3g} "
          f"({mean(bf16w, ref):.2g})\n"
          f"  C bf16 vs torch autocast {mx(c16, auto):.3g}, vs torch bf16 weights {mx(c16, bf16w):.3g}, "
          f"vs torch with the C rounding {mx(c16, exact):.2g}")
    tol_exact = 1e-2 if scale > 0.1 else 2e-4
    for what, got, want, tol in [("C fp32 vs torch fp32", mx(c32, ref), 0, 1e-4),
                                 ("C bf16 vs torch with the C rounding", mx(c16, exact), 0, tol_exact),
                                 ("C bf16 vs fp32 within 1.5x autocast's error + 1e-3", mx(c16, ref), 0,
                                  1.5 * mx(auto, ref) + 1e-3)]:
        if not got <= tol:
            FAILS.append(f"{tag}: {what}: {got:.3g} > {tol:.3g}")


def main():
    build = os.environ.get("AF_BUILD_DIR", "build")
    torch.set_num_threads(1)
    qwen = model_families.tiny("qwen2.5")
    qwen.update({"hidden_size": 48, "intermediate_size": 176})
    llama = {"model_type": "llama", "vocab_size": 97, "hidden_size": 40, "intermediate_size": 72,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
             "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500.0,
             "tie_word_embeddings": False, "attention_bias": False}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (0.3, 0.05):
            check(build, tmp, "qwen2.5-shaped tiny", qwen, scale, 11)
            check(build, tmp, "random llama", llama, scale, 12)
    for f in FAILS:
        print("FAIL", f, file=sys.stderr)
    print("\ndecode_bf16_ref:", "FAILED" if FAILS else "all checks passed")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
