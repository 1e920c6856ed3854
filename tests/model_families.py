#!/usr/bin/python3
"""The Hugging Face model families against the independent PyTorch implementation of
tests/model_ref.py, on random-weight tiny models with the REAL vocabulary sizes.

For each family (Qwen2.5, Qwen3, Llama-3.2, SmolLM2) a directory is written here with a
config.json spelled as Hugging Face writes the real model's (every field of the real
file, tiny sizes), weights in F32, BF16 or F16, single-file or sharded
(model.safetensors.index.json). Then, against torch on the same (rounded) weights:
  1. `agentflow score` log-probs of a token sequence: max |diff| <= 1e-4;
  2. the KV-cache decoder (model_ref_dump decode: prefill, then one token at a time):
     log-probs <= 1e-4;
  3. the learner batch (model_ref_dump run): logits, log-probs, entropies <= 1e-4,
     every gradient tensor within 1e-3 of its largest entry, AdamW steps (as
     tests/model_ref.py's own configs).
Also bad directories are refused with exit 2 and a message naming the problem.
Exits non-zero on any mismatch."""
import copy
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_ref  # noqa: E402
from model_ref import FAILS, Model, compare  # noqa: E402

# Real configs (Hugging Face config.json of each model), sizes shrunk below in tiny().
REAL = {
    "qwen2.5": {
        "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
        "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
        "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
        "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.43.1", "use_cache": True,
        "use_sliding_window": False, "vocab_size": 151936},
    "qwen3": {
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
        "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
        "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
        "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
        "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
        "use_sliding_window": False, "vocab_size": 151936},
    "llama3": {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64,
        "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
        "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": 128256},
    "smollm2": {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576,
        "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": True,
        "max_position_embeddings": 8192, "mlp_bias": False, "model_type": "llama", "num_attention_heads": 9,
        "num_hidden_layers": 30, "num_key_value_heads": 3, "pad_token_id": 2, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_interleaved": False, "rope_scaling": None, "rope_theta": 100000,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.42.3",
        "use_cache": True, "vocab_size": 49152},
}


def tiny(name):
    """The real config with tiny sizes; the vocabulary, the family knobs and every other
    field stay. head_dim differs from hidden/heads for Qwen3 (as in Qwen3-0.6B); the
    Llama-3 scaling's original context is shrunk so that all three frequency bands occur
    with head_dim 16."""
    c = copy.deepcopy(REAL[name])
    c.update({"hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2, "max_position_embeddings": 256})
    if name == "qwen2.5":
        c.update({"num_attention_heads": 4, "num_key_value_heads": 2})
    elif name == "qwen3":
        c.update({"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8})
    elif name == "llama3":
        c.update({"hidden_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16})
        c["rope_scaling"] = dict(c["rope_scaling"], factor=8.0, original_max_position_embeddings=64)
    else:
        c.update({"num_attention_heads": 3, "num_key_value_heads": 1})
    return c


def random_params(cfg, seed):
    return model_ref.random_params(cfg, torch.Generator().manual_seed(seed))


TORCH_DT = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def st_bytes(tensors, dtype):
    """safetensors bytes of `tensors` stored as dtype (F32, BF16, F16), with __metadata__."""
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, t in tensors.items():
        a = t.detach().to(TORCH_DT[dtype]).contiguous()
        raw = a.view(torch.int16).numpy().tobytes() if dtype != "F32" else a.numpy().tobytes()
        hdr[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write_dir(d, cfg, params, dtype, shards=1):
    """A model directory as Hugging Face writes one; returns the params as the reader
    sees them (rounded to dtype, as float32)."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    names = list(params)
    if shards == 1:
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(st_bytes(params, dtype))
    else:
        per = (len(names) + shards - 1) // shards
        wm, total = {}, 0
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: params[n] for n in names[s * per:(s + 1) * per]}
            with open(os.path.join(d, fn), "wb") as f:
                f.write(st_bytes(part, dtype))
            for n, t in part.items():
                wm[n] = fn
                total += t.numel() * (4 if dtype == "F32" else 2)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
    return {n: t.to(TORCH_DT[dtype]).to(torch.float32) for n, t in params.items()}


def torch_logprobs(cfg, params, toks):
    z = Model(cfg, params).logits(toks[None])[0]
    return torch.log_softmax(z.double(), -1)[:-1].gather(1, toks[1:, None])[:, 0].float()


def check_score(agentflow, d, cfg, params, toks, label):
    res = subprocess.run([agentflow, "score", "--model", d, "--tokens", " ".join(str(int(t)) for t in toks)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        FAILS.append(f"{label}: score exit {res.returncode}: {res.stderr.strip()}")
        print(f"FAIL {label}: {res.stderr.strip()}", file=sys.stderr)
        return
    got = torch.tensor(json.loads(res.stdout)["logprobs"])
    diff = compare(f"score {label}", got, torch_logprobs(cfg, params, toks).detach(), 1e-4)
    print(f"{label}: agentflow score vs torch, max |diff| log-prob {diff:.2g}")


def check_decode(build, d, cfg, params, toks, P, label):
    res = subprocess.run([os.path.join(build, "model_ref_dump"), "decode", d, str(P)] + [str(int(t)) for t in toks],
                         capture_output=True, text=True)
    if res.returncode != 0:
        FAILS.append(f"{label}: decode exit {res.returncode}: {res.stderr.strip()}")
        return
    got = torch.tensor(json.loads(res.stdout)["logprobs"])
    ref = torch_logprobs(cfg, params, toks).detach()[P - 1:]
    diff = compare(f"decode {label}", got, ref, 1e-4)
    print(f"{label}: KV-cache decode (prefill {P}, then 1 by 1) vs torch, max |diff| log-prob {diff:.2g}")


def expect_refused(agentflow, d, needle, label):
    res = subprocess.run([agentflow, "score", "--model", d, "--tokens", "1 2 3"], capture_output=True, text=True)
    ok = res.returncode == 2 and needle in res.stderr
    if not ok:
        FAILS.append(f"refusal {label}: exit {res.returncode}, stderr {res.stderr.strip()!r} lacks {needle!r}")
        print(f"FAIL refusal {label}: exit {res.returncode}: {res.stderr.strip()}", file=sys.stderr)
    else:
        print(f"refused ({label}): {res.stderr.strip().splitlines()[-1][:150]}")


def main():
    build = os.environ.get("AF_BUILD_DIR", "build")
    agentflow = os.environ.get("AF_BIN", os.path.join(build, "agentflow"))
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(7)
    plan = [  # family, dtype, shards, learner batch check
        ("qwen2.5", "BF16", 1, True), ("qwen2.5", "F16", 2, False), ("qwen2.5", "F32", 1, False),
        ("qwen3", "BF16", 3, True), ("qwen3", "F32", 1, False),
        ("llama3", "BF16", 1, True), ("llama3", "F16", 1, False),
        ("smollm2", "BF16", 2, True), ("smollm2", "F32", 1, False),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (fam, dt, shards, batch) in enumerate(plan):
            cfg = tiny(fam)
            label = f"{fam} {dt}{' %d shards' % shards if shards > 1 else ''} vocab {cfg['vocab_size']}"
            d = os.path.join(tmp, f"{fam}_{dt}_{shards}")
            params = write_dir(d, cfg, random_params(cfg, 100 + i), dt, shards)
            toks = torch.randint(0, cfg["vocab_size"], (48,), generator=g)
            check_score(agentflow, d, cfg, params, toks, label)
            check_decode(build, d, cfg, params, toks, 17, label)
            if batch:
                model_ref.check_dir_batch(tmp, build, d, label, params)
        # refusals: one clear message, exit 2
        base = tiny("qwen3")
        p = random_params(base, 1)
        cases = [
            ("model_type", dict(base, model_type="mistral"), "model_type \"mistral\""),
            ("rope type", dict(base, rope_scaling={"rope_type": "yarn", "factor": 4.0}), "type \"yarn\""),
            ("dtype", dict(base, torch_dtype="float8_e4m3fn"), "torch_dtype \"float8_e4m3fn\""),
            ("field", dict(base, quantization_config={"bits": 4}), "field \"quantization_config\""),
            ("sliding", dict(base, use_sliding_window=True), "use_sliding_window"),
            ("head_dim", {k: v for k, v in base.items() if k != "head_dim"}, "head_dim"),
        ]
        for j, (what, cfg, needle) in enumerate(cases):
            d = os.path.join(tmp, f"bad{j}")
            write_dir(d, cfg, p, "BF16")
            expect_refused(agentflow, d, needle, what)
        d = os.path.join(tmp, "badshape")
        q = dict(p)
        q["model.layers.1.self_attn.k_norm.weight"] = torch.ones(5)
        write_dir(d, base, q, "BF16")
        expect_refused(agentflow, d, "model.layers.1.self_attn.k_norm.weight: shape [5], expected [8]", "shape")
        d = os.path.join(tmp, "badmissing")
        q = {k: v for k, v in p.items() if "layers.0.self_attn.q_norm" not in k}
        write_dir(d, base, q, "BF16", 2)
        expect_refused(agentflow, d, "missing tensor model.layers.0.self_attn.q_norm.weight", "missing (sharded)")
    if FAILS:
        print(f"model_families.py: {len(FAILS)} mismatches", file=sys.stderr)
        for f in FAILS:
            print("  " + f, file=sys.stderr)
        return 1
    print("model_families.py: all comparisons passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
