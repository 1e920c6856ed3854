#!/usr/bin/python3
"""The C learner with bf16 products (model.compute=bf16) against PyTorch on the same
weights and batch (tests/model_ref_dump: tiny models of tests/model_ref.py, weights
N(0, 0.3^2), GQA / QKV bias / tied embeddings; a PPO loss outside the model, with clip
bounds no ratio reaches so that it is smooth), in two ways:

1. torch emulating the C scheme exactly: autograd functions for every linear layer
   (inputs, weights and, backward, the output gradient rounded to bf16 by torch's own
   round-to-nearest-even, products in fp32) and for the attention (the five products
   with bf16 inputs: q, k, v, dO, the probabilities P and the score gradient dS; scores
   scaled after the product; softmax, its gradient and everything else fp32). Only the
   fp32 summation order differs, which can move a value across a bf16 rounding boundary
   now and then (seen: 1e-6). Tolerances: log-probs max |diff| <= 1e-4, loss relative
   1e-5, every gradient tensor with cosine >= 0.99999 and relative L2 distance <= 1e-4.
2. torch under CPU autocast to bfloat16, what a PyTorch user runs. Autocast also rounds
   each product's output to bf16 and runs the attention products in bf16, where the C
   learner keeps fp32, so the two differ by about as much as each differs from fp32.
   Tolerances: log-probs max |diff| <= 2 * max |autocast - torch fp32| + 0.02; loss within
   0.05 * |fp32 loss| + 2 * |autocast - fp32 loss|; every gradient tensor with cosine >=
   0.98, and C's relative L2 distance to torch fp32 at most 2x autocast's + 0.05.
The C bf16 run must also differ from the C fp32 run (the bf16 path ran).
All of it for model.compute=bf16 and for model.compute=bf16-fma (the same rounded inputs,
the products on the fp32 units: the same emulation, only the sums' order differs).
bf16 is skipped when the CPU has no native bf16 (model_ref_dump run ... bf16 exits 77);
bf16-fma runs on any CPU."""
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import Model, load_dir, read_safetensors  # noqa: E402

FAILS = []


def r16(t):
    return t.to(torch.bfloat16).to(torch.float32)


class Bf16Linear(torch.autograd.Function):
    """y = bf16(x) bf16(w)^T (+ b) in fp32; dx = bf16(dy) bf16(w), dw = bf16(dy)^T bf16(x)."""

    @staticmethod
    def forward(ctx, x, w, b):
        xr, wr = r16(x), r16(w)
        ctx.save_for_backward(xr, wr)
        ctx.has_b = b is not None
        y = xr @ wr.t()
        return y + b if b is not None else y

    @staticmethod
    def backward(ctx, dy):
        xr, wr = ctx.saved_tensors
        dyr = r16(dy)
        x2, d2 = xr.reshape(-1, xr.shape[-1]), dyr.reshape(-1, dyr.shape[-1])
        db = dy.reshape(-1, dy.shape[-1]).sum(0) if ctx.has_b else None
        return dyr @ wr, d2.t() @ x2, db


def emulated_linear(x, w, b=None):
    return Bf16Linear.apply(x, w, b)


class Bf16Attention(torch.autograd.Function):
    """O = bf16(P) bf16(v), P = softmax(scale * bf16(q) bf16(k)^T + mask); backward as the
    C learner: dP = bf16(dO) bf16(v)^T, dS = P (dP - rowsum(O dO)) scale, dV = bf16(P)^T
    bf16(dO), dQ = bf16(dS) bf16(k), dK = bf16(dS)^T bf16(q)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, scale):
        qr, kr, vr = r16(q), r16(k), r16(v)
        P = torch.softmax((qr @ kr.transpose(-1, -2)) * scale + mask, -1)
        O = r16(P) @ vr
        ctx.save_for_backward(qr, kr, vr, P, O)
        ctx.scale = scale
        return O

    @staticmethod
    def backward(ctx, dO):
        qr, kr, vr, P, O = ctx.saved_tensors
        dOr = r16(dO)
        dP = dOr @ vr.transpose(-1, -2)
        D = (O * dO).sum(-1, keepdim=True)
        dS = P * (dP - D) * ctx.scale
        dSr, Pr = r16(dS), r16(P)
        return dSr @ kr, dSr.transpose(-1, -2) @ qr, Pr.transpose(-1, -2) @ dOr, None, None


class EmulatedModel(Model):
    def attend(self, q, k, v, mask):
        return Bf16Attention.apply(q, k, v, mask, 1.0 / self.hd ** 0.5)


def check(what, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
    if not ok:
        FAILS.append(what)


def torch_batch(cfg, params, o, mode):
    """mode: "fp32", "autocast" or "emulated" (the C scheme)."""
    if mode == "emulated":
        saved = torch.nn.functional.linear
        torch.nn.functional.linear = emulated_linear
        try:
            return torch_batch(cfg, params, o, "fp32")
        finally:
            torch.nn.functional.linear = saved
    """Log-probs (per sequence, concatenated), loss and gradients of the C batch in o."""
    params = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    model = (EmulatedModel if torch.nn.functional.linear is emulated_linear else Model)(cfg, params)
    ss = [int(v) for v in o["seq_start"]]
    toks = o["tokens"].long()
    T = float(o["temperature"][0])
    lo, hi = float(o["clip_low"][0]), float(o["clip_high"][0])
    nact = sum(ss[s + 1] - ss[s] - int(o["prompt_len"][s]) for s in range(len(ss) - 1))
    loss, lps = 0.0, []
    for s in range(len(ss) - 1):
        a, b = ss[s], ss[s + 1]
        tk = toks[a:b]
        if mode == "autocast":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                z = model.logits(tk[None])[0]
            z = z.float()
        else:
            z = model.logits(tk[None])[0]
        lp = torch.log_softmax(z / T, -1)[:-1].gather(1, tk[1:, None])[:, 0]
        lps.append(lp.detach())
        pl = int(o["prompt_len"][s])
        rho = torch.exp(lp[pl - 1:] - o["old_logp"][a + pl:b])
        A = float(o["adv"][s])
        loss = loss - torch.minimum(rho * A, rho.clamp(1 - lo, 1 + hi) * A).sum() / nact
    loss.backward()
    return torch.cat(lps), float(loss), {k: v.grad.detach() for k, v in params.items()}


def c_logp(o):
    ss = [int(v) for v in o["seq_start"]]
    return torch.cat([o["logp"][ss[s] + 1:ss[s + 1]] for s in range(len(ss) - 1)])


def cos(a, b):
    a, b = a.flatten().double(), b.flatten().double()
    return float((a @ b) / (a.norm() * b.norm()).clamp_min(1e-300))


def rel(a, b):
    a, b = a.flatten().double(), b.flatten().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


SKIPPED = []


def compare(dump, d, ob, of, mode, label):
    """The C run in `mode` (bf16 or bf16-fma) of model dir d against torch; of: C fp32's."""
    r = subprocess.run([dump, "run", d, ob, mode])
    if r.returncode == 77:
        SKIPPED.append(mode)
        return
    if r.returncode != 0:
        FAILS.append(f"{label}: model_ref_dump run {mode} exited {r.returncode}")
        return
    cfg, params = load_dir(d)
    o, o32 = read_safetensors(ob), read_safetensors(of)
    # torch on the bf16 run's batch (its old log-probs come from the C bf16 forward)
    lp_ac, loss_ac, g_ac = torch_batch(cfg, params, o, "autocast")
    lp_32, loss_32, g_32 = torch_batch(cfg, params, o, "fp32")
    lp_em, loss_em, g_em = torch_batch(cfg, params, o, "emulated")
    lp_c = c_logp(o)
    loss_c = float(o["loss"][0])
    d_em = float((lp_c - lp_em).abs().max())
    check(f"{label}: log-probs C bf16 vs torch emulating it", d_em <= 1e-4, f"max diff {d_em:.3g}")
    check(f"{label}: loss C bf16 vs torch emulating it", abs(loss_c - loss_em) <= 1e-5 * abs(loss_em),
          f"{loss_c:.7g} vs {loss_em:.7g}")
    gc = {n: o["grad." + n].reshape(g_em[n].shape) for n in params}
    worst = min((cos(gc[n], g_em[n]), n) for n in params)
    worst_r = max((rel(gc[n], g_em[n]), n) for n in params)
    check(f"{label}: gradients C bf16 vs torch emulating it", worst[0] >= 0.99999 and worst_r[0] <= 1e-4,
          f"worst cosine {worst[0]:.6f} ({worst[1]}), worst rel L2 {worst_r[0]:.3g} ({worst_r[1]})")
    d_c = float((lp_c - lp_ac).abs().max())
    d_ref = float((lp_ac - lp_32).abs().max())
    d_c32 = float((lp_c - lp_32).abs().max())
    check(f"{label}: log-probs C bf16 vs torch autocast", d_c <= 2 * d_ref + 0.02,
          f"max diff {d_c:.3g} (autocast vs fp32 {d_ref:.3g}, C bf16 vs torch fp32 {d_c32:.3g})")
    check(f"{label}: loss C bf16 vs torch autocast",
          abs(loss_c - loss_ac) <= 0.05 * abs(loss_32) + 2 * abs(loss_ac - loss_32),
          f"{loss_c:.6g} vs {loss_ac:.6g} (torch fp32 {loss_32:.6g})")
    worst_cos, worst_rel, worst_ac_rel, worst_name = 1.0, 0.0, 0.0, ""
    bad = []
    for n in params:
        c = cos(gc[n], g_ac[n])
        r_c, r_ac = rel(gc[n], g_32[n]), rel(g_ac[n], g_32[n])
        if c < worst_cos:
            worst_cos, worst_name = c, n
        worst_rel, worst_ac_rel = max(worst_rel, r_c), max(worst_ac_rel, r_ac)
        if not (c >= 0.98 and r_c <= 2 * r_ac + 0.05):
            bad.append(f"{n}: cosine {c:.5f}, rel L2 to fp32 {r_c:.3g} (autocast {r_ac:.3g})")
    check(f"{label}: gradients C bf16 vs torch autocast", not bad,
          f"worst cosine {worst_cos:.5f} ({worst_name}); rel L2 to torch fp32: C bf16 {worst_rel:.3g}, "
          f"autocast {worst_ac_rel:.3g}" + ("; " + "; ".join(bad[:4]) if bad else ""))
    check(f"{label}: C bf16 differs from C fp32", not torch.equal(o["logp"], o32["logp"]),
          f"max |dlogp| {float((o['logp'] - o32['logp']).abs().max()):.3g}")


def main():
    build = os.environ.get("AF_BUILD_DIR", "build")
    dump = os.path.join(build, "model_ref_dump")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for kv, bias, tied in [(4, 0, 0), (2, 1, 0), (1, 0, 1)]:
            label = f"kv={kv} bias={bias} tied={tied}"
            d = os.path.join(tmp, f"c_{kv}{bias}{tied}")
            subprocess.run([dump, "make", d, str(kv), str(bias), str(tied)], check=True)
            of = os.path.join(tmp, "fp32.safetensors")
            subprocess.run([dump, "run", d, of], check=True)
            for mode in ("bf16", "bf16-fma"):
                compare(dump, d, os.path.join(tmp, mode + ".safetensors"), of, mode, f"{label} {mode}")
    if FAILS:
        print(f"model_bf16_ref.py: {len(FAILS)} failed: {FAILS}", file=sys.stderr)
        return 1
    if SKIPPED:
        print(f"SKIP (no native bf16 on this CPU): {sorted(set(SKIPPED))}")
    print("model_bf16_ref.py: all comparisons passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
