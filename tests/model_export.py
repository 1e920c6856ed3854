#!/usr/bin/python3
"""`agentflow ckpt export` writes a directory others can load (issue 16 part 6).

A tiny run starts from a Hugging Face-style source directory (model.init_from) whose
config.json carries fields the project does not own and which holds tokenizer.json,
tokenizer_config.json and generation_config.json. After one iteration, its checkpoint is
exported three ways and read back:
  - fp32, one file: the project loads it (`agentflow score`) and torch (tests/model_ref.py)
    agrees to 1e-4 in log-probs; the source's unknown config fields are kept verbatim, its
    tokenizer files copied byte for byte; safetensors metadata {"format": "pt"};
  - bf16, sharded (--max-shard-mb small): model.safetensors.index.json as Hugging Face
    writes it (metadata.total_size, weight_map naming every tensor's shard), every BF16
    value the round-to-nearest-even of the fp32 export's, the project's score equal to
    torch's on the same bf16 weights to 1e-4, and within 0.05 of the fp32 export's
    log-probs (bf16 keeps 8 bits of mantissa: a relative weight error <= 2^-9);
  - without a source (a run of the project's own fixed vocabulary, no model.init_from):
    config.json and model.safetensors only, no tokenizer files; with --source, the named
    directory's files and fields.
Bad options exit 2. Exits non-zero on any failure."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import FAILS, Model, compare, load_dir  # noqa: E402

SMALL = ["--set", "suite.name=multihop", "--set", "suite.max_train=48",
         "--set", "suite.max_test=24", "--set", "model.d_model=32", "--set", "model.n_layers=2",
         "--set", "model.n_heads=2", "--set", "model.n_kv_heads=1", "--set", "model.d_ff=64",
         "--set", "model.max_seq=256", "--set", "rollout.max_turns=4", "--set", "rollout.max_action_tokens=20",
         "--set", "rollout.batch_queries=4", "--set", "rollout.group_size=4", "--set", "log.progress=none",
         "--set", "algo.lr=1e-2"]


def check(what, ok, detail=""):
    if ok:
        print(f"ok   {what}")
    else:
        FAILS.append(f"{what} {detail}")
        print(f"FAIL {what} {detail}", file=sys.stderr)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def raw_bf16(path):
    """name -> int16 tensor of the stored BF16 bits."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(b[8 + n + a:8 + n + e]), dtype=torch.int16).reshape(v["shape"])
    return out


def score(agentflow, d, toks):
    r = run([agentflow, "score", "--model", d, "--tokens", " ".join(map(str, toks))])
    if r.returncode != 0:
        FAILS.append(f"score {d}: {r.stderr}")
        return None
    return torch.tensor(json.loads(r.stdout)["logprobs"])


def torch_logprobs(d, toks):
    cfg, p = load_dir(d)
    t = torch.tensor(toks)
    z = Model(cfg, p).logits(t[None])[0]
    return torch.log_softmax(z.double(), -1)[:-1].gather(1, t[1:, None])[:, 0].float()


def main():
    build = os.environ.get("AF_BUILD_DIR", "build")
    agentflow = os.environ.get("AF_BIN", os.path.join(build, "agentflow"))
    with tempfile.TemporaryDirectory() as tmp:
        # the source: the project's own initial planner, dressed as a Hugging Face directory
        r = run([agentflow, "train", "--run-dir", f"{tmp}/init", *SMALL, "--set", "run.iterations=0"])
        check("initial planner written", r.returncode == 0, r.stderr[-500:])
        src = f"{tmp}/source"
        shutil.copytree(f"{tmp}/init/model", src)
        with open(f"{src}/config.json") as f:
            cfg = json.load(f)
        cfg.update({"transformers_version": "4.43.1", "bos_token_id": 3, "eos_token_id": [4, 5],
                    "initializer_range": 0.041666666666666664, "use_cache": True})
        with open(f"{src}/config.json", "w") as f:
            json.dump(cfg, f, indent=2)
        extra = {"tokenizer.json": '{"version": "1.0", "model": {"type": "BPE"}}\n',
                 "tokenizer_config.json": '{"chat_template": "{{ messages }}", "eos_token": "</s>"}\n',
                 "generation_config.json": '{"bos_token_id": 3, "eos_token_id": [4, 5], "do_sample": true}\n'}
        # the weights the run starts from: the source without its tokenizer (with this stub
        # tokenizer.json the run would be a planner in text: tests/test_text_train.py)
        srcw = f"{tmp}/source-weights"
        shutil.copytree(src, srcw)
        for name, text in extra.items():
            for d in (src, srcw):
                if d == srcw and name.startswith("tokenizer"):
                    continue
                with open(f"{d}/{name}", "w") as f:
                    f.write(text)
        r = run([agentflow, "train", "--run-dir", f"{tmp}/run", *SMALL, "--set", "run.iterations=1",
                 "--init-from", srcw])
        check("one iteration from the source", r.returncode == 0, r.stderr[-500:])

        # fp32, one file
        e32 = f"{tmp}/e32"
        r = run([agentflow, "ckpt", "export", "--run-dir", f"{tmp}/run", "--out", e32, "--dtype", "fp32"])
        check("export fp32", r.returncode == 0, r.stderr)
        h = header(f"{e32}/model.safetensors")
        check("fp32: metadata format pt, F32 tensors",
              h.get("__metadata__") == {"format": "pt"} and all(v["dtype"] == "F32" for k, v in h.items() if k != "__metadata__"))
        with open(f"{e32}/config.json") as f:
            ec = json.load(f)
        kept = {k: cfg[k] for k in ("transformers_version", "bos_token_id", "eos_token_id", "initializer_range", "use_cache")}
        check("config.json keeps the source's fields verbatim", all(ec.get(k) == v for k, v in kept.items()), str(ec))
        check("config.json: the model's fields, torch_dtype float32",
              ec["hidden_size"] == 32 and ec["num_hidden_layers"] == 2 and ec["torch_dtype"] == "float32")
        for name, text in extra.items():  # the source by default: the run's model.init_from
            got = open(f"{e32}/{name}").read() if os.path.exists(f"{e32}/{name}") else None
            want = None if name.startswith("tokenizer") else text
            check(f"{name} {'copied from' if want else 'absent, as in'} model.init_from", got == want)
        _, p32 = load_dir(e32)
        V = p32["model.embed_tokens.weight"].shape[0]
        toks = [int(x) for x in torch.randint(0, V, (60,), generator=torch.Generator().manual_seed(3))]
        lp32 = score(agentflow, e32, toks)
        if lp32 is not None:
            d = compare("fp32 export: agentflow score vs torch", lp32, torch_logprobs(e32, toks), 1e-4)
            print(f"     fp32 export: project vs torch max |diff| log-prob {d:.2g}")
        _, prun = load_dir(f"{tmp}/run/model")
        check("fp32 export == the run's final model, bit for bit",
              all(torch.equal(prun[k], p32[k]) for k in prun) and prun.keys() == p32.keys())

        # bf16, sharded
        e16 = f"{tmp}/e16"
        r = run([agentflow, "ckpt", "export", "--run-dir", f"{tmp}/run", "--out", e16, "--dtype", "bf16",
                 "--max-shard-mb", "0.004"])
        check("export bf16 sharded", r.returncode == 0, r.stderr)
        idx_path = f"{e16}/model.safetensors.index.json"
        check("bf16: index written, no model.safetensors",
              os.path.exists(idx_path) and not os.path.exists(f"{e16}/model.safetensors"))
        if os.path.exists(idx_path):
            idx = json.load(open(idx_path))
            wm = idx["weight_map"]
            shards = sorted(set(wm.values()))
            check(f"bf16: {len(shards)} shards named model-0000i-of-0000n", len(shards) > 1 and all(
                s == f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i, s in enumerate(shards)))
            check("bf16: weight_map names every tensor, sorted", sorted(wm) == sorted(p32) and list(wm) == sorted(wm))
            total = sum(v.numel() * 2 for v in p32.values())
            check("bf16: metadata.total_size", idx["metadata"]["total_size"] == total)
            ok_round = True
            for s in shards:
                hs = header(f"{e16}/{s}")
                check(f"bf16: {s} holds exactly its weight_map tensors",
                      sorted(k for k in hs if k != "__metadata__") == sorted(k for k, v in wm.items() if v == s))
                for k, bits in raw_bf16(f"{e16}/{s}").items():
                    ref = p32[k].contiguous().view(torch.int32)
                    rne = ((ref + 0x7FFF + ((ref >> 16) & 1)) >> 16).to(torch.int16)  # round to nearest even
                    ok_round &= torch.equal(bits, rne)
            check("bf16: every value is the round-to-nearest-even of the fp32 export", ok_round)
            with open(f"{e16}/config.json") as f:
                check("bf16: torch_dtype bfloat16", json.load(f)["torch_dtype"] == "bfloat16")
            lp16 = score(agentflow, e16, toks)
            if lp16 is not None and lp32 is not None:
                d = compare("bf16 export: agentflow score vs torch", lp16, torch_logprobs(e16, toks), 1e-4)
                d2 = compare("bf16 export vs fp32 export log-probs", lp16, lp32, 0.05)
                print(f"     bf16 export: project vs torch max |diff| {d:.2g}; bf16 vs fp32 export {d2:.2g}")
            # logits, in torch, of the bf16 export against the fp32 export's
            t = torch.tensor(toks)[None]
            z32 = Model(*load_dir(e32)).logits(t).detach()
            z16 = Model(*load_dir(e16)).logits(t).detach()
            d3 = compare("bf16 export vs fp32 export logits (torch)", z16, z32, 0.05)
            print(f"     bf16 vs fp32 export logits max |diff| {d3:.2g} (logits up to {z32.abs().max().item():.2g})")

        # the project's own vocabulary without a source: no tokenizer files
        eown = f"{tmp}/eown"
        r = run([agentflow, "train", "--run-dir", f"{tmp}/own", *SMALL, "--set", "run.iterations=1"])
        check("one iteration from the project's own init", r.returncode == 0, r.stderr[-500:])
        r = run([agentflow, "ckpt", "export", "--run-dir", f"{tmp}/own", "--out", eown])
        check("export without a source", r.returncode == 0, r.stderr)
        check("without a source: config.json + model.safetensors only",
              sorted(os.listdir(eown)) == ["config.json", "model.safetensors"], str(os.listdir(eown)))

        # --source names the directory explicitly (a run without model.init_from)
        esrc = f"{tmp}/esrc"
        r = run([agentflow, "ckpt", "export", "--run-dir", f"{tmp}/own", "--out", esrc, "--source", src])
        check("export with --source", r.returncode == 0, r.stderr)
        check("--source: tokenizer files and config fields carried over",
              os.path.exists(f"{esrc}/tokenizer.json") and json.load(open(f"{esrc}/config.json")).get("bos_token_id") == 3)

        for args, needle in [(["--dtype", "fp8"], "--dtype"), (["--max-shard-mb", "-1"], "--max-shard-mb")]:
            r = run([agentflow, "ckpt", "export", "--run-dir", f"{tmp}/run", "--out", f"{tmp}/bad", *args])
            check(f"bad option {args} exits 2 naming it", r.returncode == 2 and needle in r.stderr, r.stderr)
    if FAILS:
        print(f"model_export.py: {len(FAILS)} failures", file=sys.stderr)
        return 1
    print("model_export.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
