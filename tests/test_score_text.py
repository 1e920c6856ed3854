#!/usr/bin/python3
"""agentflow score --text / --chat on real Hugging Face tokenizers and random-weight tiny
models in the real architectures (issue 16 part 7), against independent references:
  - the token ids: the JavaScript tokenizer (@lenml/tokenizers under node) encoding the
    same text with its own special-token rule (tokenizer(text): Llama-3 adds its bos);
  - --chat: the conversation rendered by python3-jinja2 as transformers' apply_chat_template
    does (tests/hf/chat_ref.py), then encoded by the JavaScript tokenizer with no specials;
  - the log-probs: the PyTorch implementation (tests/model_ref.py), to 1e-4;
  - bad input exits 2 naming it: a tokenizer larger than the model's vocabulary, a
    malformed tokenizer.json, a directory without one, a chat file that is not messages.
Exit 77 when npm cannot install the tokenizer files (no registry)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "hf"))
import model_families as mf  # noqa: E402
import chat_ref  # noqa: E402
import torch  # noqa: E402
from model_ref import FAILS, compare  # noqa: E402

NODE_ENCODE = r"""
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
const [nm, dir, specials] = process.argv.slice(2);
const lib = await import(pathToFileURL(join(nm, "@lenml/tokenizers/dist/main.mjs")).href);
const tok = lib.TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) });
const texts = JSON.parse(readFileSync(0, "utf8"));
console.log(JSON.stringify(texts.map(t => Array.from(tok.encode(t, { add_special_tokens: specials === "1" })))));
"""

TEXTS = ["Hello world", "What is 2+2? Let's compute (3*4)-5.", "  spaces\n\nand\tnewlines  ",
         "你好，世界 café naïve 🙂👩‍💻", "<|im_start|>user\nhi<|im_end|>", "x" * 300]
CHATS = [[{"role": "user", "content": "What is 6*7?"}],
         [{"role": "system", "content": "You plan tool calls."}, {"role": "user", "content": "Solve 3 3 8 8."},
          {"role": "assistant", "content": "calculator 8/(3-8/3)"}, {"role": "user", "content": "Thanks 🙂"}]]


def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True)


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)[:400]))
    if not ok:
        FAILS.append(name)


def score(agentflow, d, *args):
    r = run([agentflow, "score", "--model", d, *args])
    if r.returncode != 0:
        return None, r
    return json.loads(r.stdout), r


def npm_modules(build):
    """The node_modules of tests/hf/install_npm.sh, or (None, exit code): 77 when npm
    cannot install the packages (a skip), 1 on another failure."""
    inst = run(["bash", os.path.join(HERE, "hf", "install_npm.sh"), os.path.join(build, "npm")])
    if inst.returncode == 77:
        print("SKIP: npm packages unavailable: " + inst.stderr.strip())
        return None, 77
    if inst.returncode != 0:
        print("FAIL install_npm.sh: " + inst.stderr)
        return None, 1
    return inst.stdout.strip().splitlines()[-1], 0


def main():
    build = os.environ.get("AF_BUILD_DIR", "build")
    agentflow = os.environ.get("AF_BIN", os.path.join(build, "agentflow"))
    nm, code = npm_modules(build)
    if nm is None:
        return code
    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        enc_js = os.path.join(tmp, "enc.mjs")
        with open(enc_js, "w") as f:
            f.write(NODE_ENCODE)
        for family, pkg in (("qwen2.5", "tokenizer-qwen2_5"), ("qwen3", "tokenizer-qwen3"), ("llama3", "tokenizer-llama3_1")):
            src = os.path.join(nm, "@lenml", pkg, "models")
            d = os.path.join(tmp, family)
            cfg = mf.tiny(family)
            params = mf.write_dir(d, cfg, mf.random_params(cfg, 11), "F32")
            for fn in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(src, fn), d)
            js = run(["node", enc_js, nm, d, "1"], json.dumps(TEXTS))
            check(f"{family}: the reference tokenizer ran", js.returncode == 0, js.stderr)
            if js.returncode:
                continue
            want = json.loads(js.stdout)
            for text, ids in zip(TEXTS, want):
                out, r = score(agentflow, d, "--text", text)
                label = f"{family} --text {text[:24]!r}"
                if out is None:
                    check(label, False, r.stderr)
                    continue
                check(label + ": ids equal the reference's", out["tokens"] == ids, (out["tokens"][:12], ids[:12]))
                toks = torch.tensor(out["tokens"])
                if len(toks) > 1:
                    ref = mf.torch_logprobs(cfg, params, toks).detach()
                    diff = compare(label + " log-probs vs torch", torch.tensor(out["logprobs"]), ref, 1e-4)
                    worst[family] = max(worst.get(family, 0.0), diff)
            with open(os.path.join(d, "tokenizer_config.json")) as f:
                tcfg = json.load(f)
            for i, msgs in enumerate(CHATS):
                for gen in (0, 1):
                    ok, text = chat_ref.render(tcfg, {"messages": msgs, "add_generation_prompt": bool(gen)})
                    check(f"{family} chat {i}: jinja2 renders it", ok, text)
                    js = run(["node", enc_js, nm, d, "0"], json.dumps([text]))
                    cf = os.path.join(tmp, f"chat{i}.json")
                    with open(cf, "w") as f:
                        json.dump(msgs, f, ensure_ascii=False)
                    out, r = score(agentflow, d, "--chat", cf, *(["--generation-prompt"] if gen else []))
                    label = f"{family} --chat {i}{' --generation-prompt' if gen else ''}"
                    if out is None or js.returncode:
                        check(label, False, r.stderr + js.stderr)
                        continue
                    check(label + ": ids equal jinja2 + the reference tokenizer", out["tokens"] == json.loads(js.stdout)[0])
                    ref = mf.torch_logprobs(cfg, params, torch.tensor(out["tokens"])).detach()
                    diff = compare(label + " log-probs vs torch", torch.tensor(out["logprobs"]), ref, 1e-4)
                    worst[family] = max(worst.get(family, 0.0), diff)
            print(f"{family}: worst |log-prob - torch| {worst.get(family, float('nan')):.2g} (tolerance 1e-4)")
        # bad input: one clear error, exit 2
        small = os.path.join(tmp, "small")
        cfg = mf.tiny("smollm2")  # vocabulary 49,152
        mf.write_dir(small, cfg, mf.random_params(cfg, 3), "F32")
        r = run([agentflow, "score", "--model", small, "--text", "hi"])
        check("no tokenizer.json: exit 2 naming it", r.returncode == 2 and "tokenizer.json" in r.stderr, r.stderr)
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(nm, "@lenml", "tokenizer-llama3", "models", fn), small)
        r = run([agentflow, "score", "--model", small, "--text", "hi"])
        check("a tokenizer larger than the model's vocabulary: exit 2", r.returncode == 2 and "vocabulary" in r.stderr,
              r.stderr)
        with open(os.path.join(small, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [')
        r = run([agentflow, "score", "--model", small, "--text", "hi"])
        check("a malformed tokenizer.json: exit 2", r.returncode == 2 and "tokenizer.json" in r.stderr, r.stderr)
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"role": "user"}')
        r = run([agentflow, "score", "--model", os.path.join(tmp, "qwen2.5"), "--chat", bad])
        check("a chat file that is not messages: exit 2", r.returncode == 2 and "messages" in r.stderr, r.stderr)
        r = run([agentflow, "score", "--model", os.path.join(tmp, "qwen2.5"), "--text", "a", "--tokens", "1 2"])
        check("--text with --tokens: exit 2", r.returncode == 2, r.stderr)
    print("FAILED: %d" % len(FAILS) if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
