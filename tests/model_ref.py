#!/usr/bin/python3
"""Independent PyTorch implementation of the planner transformer (Llama/Qwen2 semantics,
rotate-half RoPE) used to check the C model.

Run with Debian's /usr/bin/python3 (python3-torch). Checks, for several configs (GQA,
QKV bias, tied embedding):
  1. a directory written by C (tests/model_ref_dump make) loads here; the C learner
     batch (model_ref_dump run) matches: logits, log-probs and entropies at a
     temperature, a PPO-clip loss computed outside the model, every gradient tensor, and
     the parameters after gradient clipping and two AdamW steps (torch.optim.AdamW);
  2. a directory written here (own init, own safetensors writer) is scored by
     `agentflow score`, and its log-probs match torch's.
Exits non-zero on any mismatch. Tolerances are stated next to each comparison.
Also usable as a module: the bench imports Model, load_dir, save_dir."""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

DT = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        if e["dtype"] == "BF16":
            u = np.frombuffer(raw[base + b:base + en], dtype=np.uint16).astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(raw[base + b:base + en], dtype=DT[e["dtype"]]).astype(np.float32)
        out[name] = torch.from_numpy(a.reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    hdr, off, blobs = {}, 0, []
    for name, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        hdr[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(a)]}
        off += len(a)
        blobs.append(a)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in blobs:
            f.write(a)


class Model:
    """The transformer as plain torch ops over a dict of named parameters."""

    def __init__(self, cfg, params, linear=None):
        """linear(x, w, b): the matrix products (7 per layer and the LM head); default
        torch.nn.functional.linear (tests/decode_bf16_ref.py passes a bf16-rounding one)."""
        self.cfg = cfg
        self.p = params
        self.linear = linear or torch.nn.functional.linear
        self.C = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads") or self.H
        self.hd = cfg.get("head_dim") or self.C // self.H
        self.qk_norm = cfg.get("model_type") == "qwen3"
        self.scaling = cfg.get("rope_scaling")
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.tied = cfg.get("tie_word_embeddings", False)

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def inv_freq(self):
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        rs = self.scaling
        if rs and (rs.get("rope_type") or rs.get("type")) == "llama3":
            # Llama-3 frequency scaling, written from Meta's reference (apply_scaling in
            # llama/model.py of llama-models): low frequencies divided by `factor`, high
            # ones kept, a linear blend between the two wavelength bounds.
            factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
            old = rs["original_max_position_embeddings"]
            out = []
            for f in inv.tolist():
                wl = 2 * math.pi / f
                if wl < old / hi:
                    out.append(f)
                elif wl > old / lo:
                    out.append(f / factor)
                else:
                    sm = (old / wl - lo) / (hi - lo)
                    out.append((1 - sm) * f / factor + sm * f)
            inv = torch.tensor(out, dtype=torch.float32)
        return inv

    def rope(self, T):
        inv = self.inv_freq()
        f = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        emb = torch.cat([f, f], -1)
        return emb.cos(), emb.sin()

    @staticmethod
    def rot_half(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], -1)

    def attend(self, q, k, v, mask):
        """Causal attention of q, k, v (B, H, T, hd) under the additive mask (T, T)."""
        return torch.softmax(q @ k.transpose(-1, -2) / self.hd ** 0.5 + mask, -1) @ v

    def logits(self, tokens):
        """tokens: LongTensor (B, T) -> logits (B, T, V); sequences unpadded, same length."""
        p, B, T = self.p, tokens.shape[0], tokens.shape[1]
        x = p["model.embed_tokens.weight"][tokens]
        cos, sin = self.rope(T)
        mask = torch.full((T, T), float("-inf")).triu(1)
        for l in range(self.L):
            pre = f"model.layers.{l}."

            def lin(name, inp):
                b = p.get(pre + name + ".bias")
                return self.linear(inp, p[pre + name + ".weight"], b)

            h = self.rms(x, p[pre + "input_layernorm.weight"])
            q = lin("self_attn.q_proj", h).view(B, T, self.H, self.hd).transpose(1, 2)
            k = lin("self_attn.k_proj", h).view(B, T, self.KV, self.hd).transpose(1, 2)
            if self.qk_norm:  # Qwen3: RMSNorm over each head's hd values, before RoPE
                q = self.rms(q, p[pre + "self_attn.q_norm.weight"])
                k = self.rms(k, p[pre + "self_attn.k_norm.weight"])
            v = lin("self_attn.v_proj", h).view(B, T, self.KV, self.hd).transpose(1, 2)
            q = q * cos + self.rot_half(q) * sin
            k = k * cos + self.rot_half(k) * sin
            g = self.H // self.KV
            k = k.repeat_interleave(g, dim=1)
            v = v.repeat_interleave(g, dim=1)
            a = self.attend(q, k, v, mask)
            x = x + lin("self_attn.o_proj", a.transpose(1, 2).reshape(B, T, self.H * self.hd))
            h = self.rms(x, p[pre + "post_attention_layernorm.weight"])
            x = x + lin("mlp.down_proj", torch.nn.functional.silu(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
        x = self.rms(x, p["model.norm.weight"])
        head = p["model.embed_tokens.weight"] if self.tied else p["lm_head.weight"]
        return self.linear(x, head, None)


def load_dir(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx) and not os.path.exists(os.path.join(d, "model.safetensors")):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        params = {}
        for shard in sorted(set(wm.values())):
            params.update(read_safetensors(os.path.join(d, shard)))
        return cfg, params
    return cfg, read_safetensors(os.path.join(d, "model.safetensors"))


def save_dir(d, cfg, params):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_safetensors(os.path.join(d, "model.safetensors"), params)


FAILS = []


def compare(what, got, ref, atol, rtol_of_max=0.0):
    got = torch.as_tensor(got, dtype=torch.float32).reshape(ref.shape)
    diff = (got - ref).abs().max().item() if ref.numel() else 0.0
    tol = atol + rtol_of_max * (ref.abs().max().item() if ref.numel() else 0.0)
    ok = diff <= tol
    if not ok:
        FAILS.append(f"{what}: max|diff| {diff:.3g} > tol {tol:.3g}")
        print(f"FAIL {what}: max|diff| {diff:.3g} > tol {tol:.3g}", file=sys.stderr)
    return diff


def check_c_batch(tmp, build, kv, bias, tied):
    d = os.path.join(tmp, f"c_{kv}{bias}{tied}")
    dump = os.path.join(build, "model_ref_dump")
    subprocess.run([dump, "make", d, str(kv), str(bias), str(tied)], check=True)
    check_dir_batch(tmp, build, d, f"kv={kv} bias={bias} tied={tied}")


def check_dir_batch(tmp, build, d, label, params=None):
    """model_ref_dump run on directory d (a learner batch, loss, backward, AdamW) against
    torch; params: the directory's tensors as float32 (read from d when None)."""
    dump = os.path.join(build, "model_ref_dump")
    out = os.path.join(tmp, "out_batch.safetensors")
    subprocess.run([dump, "run", d, out], check=True)
    cfg, read = load_dir(d)
    params = {k: v.clone() for k, v in (params or read).items()}
    o = read_safetensors(out)
    for t in params.values():
        t.requires_grad_(True)
    model = Model(cfg, params)
    ss = [int(v) for v in o["seq_start"]]
    toks = o["tokens"].long()
    T = float(o["temperature"][0])
    lo, hi = float(o["clip_low"][0]), float(o["clip_high"][0])
    loss = 0.0
    nact = sum(ss[s + 1] - ss[s] - int(o["prompt_len"][s]) for s in range(len(ss) - 1))
    worst = {"logits": 0.0, "logp": 0.0, "entropy": 0.0}
    for s in range(len(ss) - 1):
        a, b = ss[s], ss[s + 1]
        tk = toks[a:b]
        z = model.logits(tk[None])[0]                     # (T, V)
        worst["logits"] = max(worst["logits"], compare(f"logits seq {s}", o["logits"][a:b], z.detach(), 1e-4))
        lsm = torch.log_softmax(z / T, -1)
        lp = lsm[:-1].gather(1, tk[1:, None])[:, 0]       # log p(tok_i | <i), i >= 1
        ent = -(lsm.exp() * lsm).sum(-1)[:-1]
        worst["logp"] = max(worst["logp"], compare(f"logp seq {s}", o["logp"][a + 1:b], lp.detach(), 1e-4))
        worst["entropy"] = max(worst["entropy"], compare(f"entropy seq {s}", o["entropy"][a + 1:b], ent.detach(), 1e-4))
        pl = int(o["prompt_len"][s])
        act = lp[pl - 1:]                                  # tokens pl..T-1
        rho = torch.exp(act - o["old_logp"][a + pl:b])
        A = float(o["adv"][s])
        loss = loss - torch.minimum(rho * A, rho.clamp(1 - lo, 1 + hi) * A).sum() / nact
    loss.backward()
    compare("PPO loss", o["loss"], loss.detach().reshape(1), 1e-6, 1e-5)
    gworst = 0.0
    names = list(params.keys())
    for n in names:
        # gradients: max abs diff <= 1e-3 of the tensor's largest gradient + 1e-7
        gworst = max(gworst, compare(f"grad {n}", o["grad." + n], params[n].grad, 1e-7, 1e-3) /
                     max(params[n].grad.abs().max().item(), 1e-30))
    # clip + two AdamW steps with the same gradients
    mn = float(o["max_norm"][0])
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), mn)
    compare("grad norm before clipping", o["grad_norm"], norm.reshape(1), 1e-7, 1e-5)
    opt = torch.optim.AdamW(list(params.values()), lr=float(o["lr"][0]),
                            betas=(float(o["beta1"][0]), float(o["beta2"][0])),
                            eps=float(o["eps"][0]), weight_decay=float(o["weight_decay"][0]))
    opt.step()
    opt.step()
    aworst = 0.0
    for n in names:
        # parameters after AdamW: abs 2e-5 (updates are ~lr = 1e-2)
        aworst = max(aworst, compare(f"adamw {n}", o["adamw." + n], params[n].detach(), 2e-5))
    print(f"C->torch {label}: max diff logits {worst['logits']:.2g} "
          f"logp {worst['logp']:.2g} entropy {worst['entropy']:.2g}; grads {gworst:.2g} of tensor max "
          f"({len(names)} tensors); adamw {aworst:.2g}")


def random_params(cfg, g):
    """Random tensors N(0, 0.3^2) (norm weights around 1) for a config.json, in the
    Hugging Face names of its family, drawn from generator g."""
    V, C, L, F = cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or C // H
    bias = cfg.get("attention_bias", cfg["model_type"] == "qwen2")

    def r(*s):
        return torch.randn(*s, generator=g) * 0.3
    p = {"model.embed_tokens.weight": r(V, C)}
    for l in range(L):
        pre = f"model.layers.{l}."
        p[pre + "input_layernorm.weight"] = 1 + r(C)
        p[pre + "self_attn.q_proj.weight"] = r(H * hd, C)
        p[pre + "self_attn.k_proj.weight"] = r(KV * hd, C)
        p[pre + "self_attn.v_proj.weight"] = r(KV * hd, C)
        if bias:
            p[pre + "self_attn.q_proj.bias"] = r(H * hd)
            p[pre + "self_attn.k_proj.bias"] = r(KV * hd)
            p[pre + "self_attn.v_proj.bias"] = r(KV * hd)
        p[pre + "self_attn.o_proj.weight"] = r(C, H * hd)
        if cfg["model_type"] == "qwen3":
            p[pre + "self_attn.q_norm.weight"] = 1 + r(hd)
            p[pre + "self_attn.k_norm.weight"] = 1 + r(hd)
        p[pre + "post_attention_layernorm.weight"] = 1 + r(C)
        p[pre + "mlp.gate_proj.weight"] = r(F, C)
        p[pre + "mlp.up_proj.weight"] = r(F, C)
        p[pre + "mlp.down_proj.weight"] = r(C, F)
    p["model.norm.weight"] = 1 + r(C)
    if not cfg.get("tie_word_embeddings", False):
        p["lm_head.weight"] = r(V, C)
    return p


def check_torch_dir(tmp, agentflow, kv, bias, tied):
    """A directory written here is scored by `agentflow score`."""
    g = torch.Generator().manual_seed(1000 + kv * 4 + bias * 2 + tied)
    V, C, L, H, F = 53, 24, 2, 4, 40
    cfg = {"model_type": "qwen2" if bias else "llama", "vocab_size": V, "hidden_size": C,
           "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H,
           "num_key_value_heads": kv, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
           "rope_theta": 500.0, "tie_word_embeddings": bool(tied)}
    if not bias:
        cfg["attention_bias"] = False  # qwen2 without the key: biases implied
    p = random_params(cfg, g)
    d = os.path.join(tmp, f"t_{kv}{bias}{tied}")
    save_dir(d, cfg, p)
    toks = torch.randint(0, V, (40,), generator=g)
    res = subprocess.run([agentflow, "score", "--model", d, "--tokens", " ".join(str(int(t)) for t in toks)],
                         check=True, capture_output=True, text=True)
    got = json.loads(res.stdout)["logprobs"]
    z = Model(cfg, p).logits(toks[None])[0]
    lp = torch.log_softmax(z, -1)[:-1].gather(1, toks[1:, None])[:, 0]
    if len(got) != len(toks) - 1:
        FAILS.append(f"score returned {len(got)} values for {len(toks)} tokens")
        return
    diff = compare(f"score torch dir kv={kv} bias={bias} tied={tied}", torch.tensor(got), lp, 1e-4)
    print(f"torch->C kv={kv} bias={bias} tied={tied}: agentflow score max diff {diff:.2g}")


def main():
    build = os.environ.get("AF_BUILD_DIR", "build")
    agentflow = os.environ.get("AF_BIN", os.path.join(build, "agentflow"))
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for kv, bias, tied in [(4, 0, 0), (2, 1, 0), (1, 0, 1), (2, 1, 1)]:
            check_c_batch(tmp, build, kv, bias, tied)
            check_torch_dir(tmp, agentflow, kv, bias, tied)
        # score a C-written directory too, against torch
        cfg, p = load_dir(os.path.join(tmp, "c_210"))
        toks = torch.arange(0, 30) * 7 % cfg["vocab_size"]
        res = subprocess.run([agentflow, "score", "--model", os.path.join(tmp, "c_210"), "--tokens",
                              " ".join(str(int(t)) for t in toks)], check=True, capture_output=True, text=True)
        z = Model(cfg, p).logits(toks[None])[0]
        lp = torch.log_softmax(z, -1)[:-1].gather(1, toks[1:, None])[:, 0]
        compare("score C dir", torch.tensor(json.loads(res.stdout)["logprobs"]), lp.detach(), 1e-4)
    if FAILS:
        print(f"model_ref.py: {len(FAILS)} mismatches", file=sys.stderr)
        return 1
    print("model_ref.py: all comparisons passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
