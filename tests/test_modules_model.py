#!/usr/bin/python3
"""Modules on a local model (issue 17 part 2) with a random-weight tiny Qwen2.5-architecture
model and the real Qwen2.5 tokenizer and chat template (npm, tests/hf/install_npm.sh). A
random model's replies are garbage, so this tests the machinery:
  - each module's prompt (executor, verifier, generator, judge) rendered by the C side
    equals jinja2's rendering of the same messages, and its ids the JavaScript
    tokenizer's; the world with all four modules on backend=model loads the model once,
    and world.json shows the backend, the directory and the shape;
  - rollouts of game24 and multihop with every module on the model complete (exit 0 or 1:
    unreadable replies make episodes INFRA_FAILED with the reason, as with openai), with
    one load per process, and every module reply's log-prob recorded (module_calls);
  - a model forced to say " STOP" drives the executor, verifier and generator through
    their parsers to a normal (status ok) episode;
  - the same episodes through the C helper, also under the sanitizers when
    AF_SANITIZE_TESTS built test_modules_model_asan;
  - a model whose reply is vocabulary rows the tokenizer has no token for (padding)
    gets an empty reply, not a decode error;
  - the episode's budget (rollout.episode_timeout_s) ends a module call: status TIMEOUT;
  - sampled replies (modules.model.temperature=1) are bit-reproducible: two runs give the
    same output, another run.seed another;
  - bad configurations exit 2 with a message: backend=model without modules.model.dir, a
    directory without tokenizer.json, a tokenizer larger than the model's vocabulary,
    modules.planner.backend=model;
  - a training run under mpirun -n 3 (2 learners, 1 actor) with every module on the model
    runs its iterations; world.json shows the module model; ranks 0 and 2 (the ones that
    run episodes) load it once each, rank 1 not at all; then `eval --run-dir` completes.
Exit 77 when npm cannot install the tokenizer files."""
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "hf"))
import chat_ref  # noqa: E402
import tiny_qwen  # noqa: E402

from model_ref import FAILS  # noqa: E402
from test_score_text import check, run  # noqa: E402

MODULES = ("executor", "verifier", "generator", "judge")
ALL_MODEL = [a for m in MODULES for a in ("--set", f"modules.{m}.backend=model")]
QUIET = ["--set", "log.progress=none"]


def make_model(d, src, seed=5, vocab=None, stop_token=None):
    """A tiny Qwen2.5 model with the real tokenizer. stop_token: an untied model whose
    greedy reply is that token forever (layers add nothing, the head sees only it)."""
    def stop(params):
        for k, v in params.items():
            if k.endswith("o_proj.weight") or k.endswith("down_proj.weight"):
                v.zero_()
        params["model.embed_tokens.weight"][:, 0] = 1.0
        params["model.norm.weight"].fill_(1.0)
        head = params["lm_head.weight"]
        head.zero_()
        head[stop_token, 0] = 50.0
    tiny_qwen.write_model(d, src, 2048, seed, vocab, untied=stop_token is not None,
                          edit=stop if stop_token is not None else None)


def loads(stderr):
    """Ranks (from the log prefix) that loaded the module model, one entry per load."""
    return re.findall(r"\[agentflow r(\d+) INFO\] module model .* loaded", stderr)


def rollout(agentflow, *args):
    return run([agentflow, "rollout", "--planner", "oracle", "--json", *QUIET, *args])


def lines(stdout):
    out = []
    for ln in stdout.splitlines():
        try:
            out.append(json.loads(ln))
        except ValueError:
            return None
    return out


def check_prompts(helper, env, d):
    with open(os.path.join(d, "tokenizer_config.json")) as f:
        tcfg = json.load(f)
    reqs = [("game24", {"question": "4 7 8 8", "answer": "", "text": "calculator 4+7 | make 11", "turns": []}),
            ("multihop", {"question": "What is the country of the birthplace of Dratam Praravi?", "answer": "Zef",
                          "text": "Zef 你好 🙂", "turns": [{"sub_goal": "find the birthplace", "tool": "search",
                                                           "argument": "Dratam Praravi",
                                                           "result": "Dratam Praravi (person): birthplace Torgordra"}]})]
    texts, ours = [], []
    for suite, req in reqs:
        out = tiny_qwen.render(helper, d, suite, req, f"render {suite}: every module on the model")
        if out is None:
            continue
        check(f"{suite}: the world loaded the model once for four modules", out["loads"] == 1, out["loads"])
        desc = out["describe"]
        check(f"{suite}: world.json shows backend=model for each module",
              all(desc["modules"][m]["backend"] == "model" for m in MODULES), desc["modules"])
        mm = desc.get("module_model", {})
        check(f"{suite}: world.json shows the module model's dir and shape",
              mm.get("dir") == d and mm.get("vocab_size") == 151936 and mm.get("d_model") == 24 and
              mm.get("n_params", 0) > 0 and mm.get("bytes", 0) > 4 * mm.get("n_params", 0), mm)
        for m in MODULES:
            x = out["modules"][m]
            ok, text = chat_ref.render(tcfg, {"messages": x["messages"], "add_generation_prompt": True})
            check(f"{suite} {m}: jinja2 renders the messages", ok, text)
            check(f"{suite} {m}: the prompt equals jinja2's rendering", x["text"] == text, (x["text"][:160], text[:160]))
            texts.append(text)
            ours.append(x["ids"])
        check(f"{suite}: each module has its own prompt",
              len({out["modules"][m]["messages"][0]["content"] for m in MODULES}) == 4)
        check(f"{suite}: the executor's prompt holds the planner's action",
              req["text"] in out["modules"]["executor"]["messages"][1]["content"])
        check(f"{suite}: the judge's prompt holds the candidate answer",
              req["text"] in out["modules"]["judge"]["messages"][1]["content"])
    env.check_ids(d, texts, ours)


def check_rollouts(agentflow, d, stop_d, pad_d):
    mdir = ["--set", f"modules.model.dir={d}"]
    for suite in ("game24", "multihop"):
        r = rollout(agentflow, "--suite", suite, "--n", "2", *mdir, *ALL_MODEL, "--set", "modules.executor.max_tokens=16",
                    "--set", "modules.verifier.max_tokens=16")
        eps = lines(r.stdout)
        check(f"rollout {suite}, all modules on the model: completes (exit {r.returncode})",
              r.returncode in (0, 1) and eps is not None and len(eps) == 3, r.stderr[-400:])
        check(f"rollout {suite}: the model is loaded once", len(loads(r.stderr)) == 1, loads(r.stderr))
        if eps and len(eps) == 3:
            for e in eps[:2]:
                calls = e.get("module_calls", [])
                check(f"{suite} episode {e['episode']}: module replies recorded with log-probs <= 0",
                      len(calls) >= 1 and all(c["logprob"] <= 0 and c["tokens"] >= 0 for c in calls), calls)
                check(f"{suite} episode {e['episode']}: an unreadable reply is INFRA_FAILED naming the module",
                      e["status"] == "ok" or "(model)" in e["status_detail"], e["status_detail"])
                check(f"{suite} episode {e['episode']}: the executor's reply cap holds",
                      all(c["tokens"] <= 16 for c in calls if c["module"] == "executor"), calls)

    # a model that always says " STOP": the parsers see readable replies
    r = rollout(agentflow, "--suite", "game24", "--n", "1", "--set", f"modules.model.dir={stop_d}",
                *ALL_MODEL[:6], "--set", "modules.executor.max_tokens=4", "--set", "modules.verifier.max_tokens=4",
                "--set", "modules.generator.max_tokens=4")
    eps = lines(r.stdout)
    ok = r.returncode == 0 and eps and len(eps) == 2
    check("forced-STOP model: the episode ends normally", ok, r.stdout[-300:] + r.stderr[-300:])
    if ok:
        e = eps[0]
        calls = [(c["module"], c["turn"], c["tokens"]) for c in e.get("module_calls", [])]
        check("forced-STOP model: status ok, verifier stopped after turn 1, the answer is the generator's",
              e["status"] == "ok" and len(e["turns"]) == 1 and e["turns"][0]["verifier"] == "stop" and
              e["answer"] == "STOP STOP STOP STOP", e)
        check("forced-STOP model: executor, verifier, generator calls recorded in order",
              calls == [("executor", 0, 4), ("verifier", 1, 4), ("generator", 1, 4)], calls)
        check("forced-STOP model: the executor's command reached the suite (a bad action, not a crash)",
              e["turns"][0]["tool_status"] == "bad_action", e["turns"][0])

    # a reply of vocabulary rows the tokenizer has no token for (151665..151935): no text, no abort
    r = rollout(agentflow, "--suite", "multihop", "--n", "1", "--set", f"modules.model.dir={pad_d}", *ALL_MODEL[:2],
                "--set", "modules.executor.max_tokens=4")
    eps = lines(r.stdout)
    ok = eps is not None and len(eps) == 2
    check("padding-row replies: the episode completes (no decode error)", ok, r.stdout[-300:] + r.stderr[-300:])
    if ok:
        check("padding-row replies: an empty reply, INFRA_FAILED saying so, 4 tokens recorded",
              eps[0]["status"] == "infra_failed" and 'reply "" holds no command' in eps[0]["status_detail"] and
              eps[0]["module_calls"][0]["tokens"] == 4, eps[0])

    # the episode's budget ends a module call (no wall-clock assertion beyond "not ok")
    r = rollout(agentflow, "--suite", "multihop", "--n", "1", *mdir, *ALL_MODEL, "--set", "rollout.episode_timeout_s=0.01")
    eps = lines(r.stdout)
    ok = eps is not None and len(eps) == 2 and r.returncode == 1
    check("a 10 ms episode budget: the episode fails cleanly (exit 1)", ok, r.stdout[-300:] + r.stderr[-300:])
    if ok:
        e = eps[0]
        check("a 10 ms episode budget: TIMEOUT (the budget cut a module call, or the turns ran past it), "
              "reward 0", e["status"] == "timeout" and "budget" in e.get("status_detail", "") and
              e.get("reward", 0) == 0, e)

    # determinism of sampled replies
    samp = [*mdir, *ALL_MODEL, "--set", "modules.model.temperature=1", "--set", "modules.model.top_p=0.9",
            "--set", "modules.executor.max_tokens=12", "--set", "modules.verifier.max_tokens=12"]
    a = rollout(agentflow, "--suite", "multihop", "--n", "2", *samp)
    b = rollout(agentflow, "--suite", "multihop", "--n", "2", *samp)
    c = rollout(agentflow, "--suite", "multihop", "--n", "2", "--seed", "99", *samp)
    check("sampled module replies: two runs give the same bits", a.stdout == b.stdout and a.stdout, a.stdout[:200])
    check("sampled module replies: another seed samples other replies", a.stdout != c.stdout)
    g1 = rollout(agentflow, "--suite", "multihop", "--n", "1", *mdir, *ALL_MODEL, "--set", "modules.model.threads=2")
    g2 = rollout(agentflow, "--suite", "multihop", "--n", "1", *mdir, *ALL_MODEL)
    check("greedy module replies: the same bits with 1 and 2 threads", g1.stdout == g2.stdout and g1.stdout)


def check_helper_episodes(build, d):
    """Episodes through the C helper, plain and (when built) under ASan/UBSan/LSan."""
    for name in ("test_modules_model", "test_modules_model_asan"):
        helper = os.path.join(build, name)
        if not os.path.exists(helper):
            continue
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1",
                   LSAN_OPTIONS="suppressions=" + os.path.join(HERE, "lsan.supp"))
        r = subprocess.run([helper, "--episodes", d, "multihop", "3", "modules.executor.max_tokens=8",
                            "modules.verifier.max_tokens=8", "modules.model.temperature=0.7"],
                           capture_output=True, text=True, env=env, timeout=600)
        rows = r.stdout.split("\n")[:-1]
        check(f"{name} --episodes: three episodes, every module call recorded, clean exit",
              r.returncode == 0 and len(rows) == 3 and all(int(x.split()[1]) >= 1 for x in rows),
              r.stdout[-300:] + r.stderr[-1200:])


def check_bad_config(agentflow, d, tmp, src):
    notok = os.path.join(tmp, "notok")
    shutil.copytree(d, notok)
    os.remove(os.path.join(notok, "tokenizer.json"))
    small = os.path.join(tmp, "small")
    make_model(small, src, vocab=1000)
    cases = [
        ("backend=model without modules.model.dir", [*ALL_MODEL[:2]], "modules.model.dir: empty"),
        ("a directory without tokenizer.json", [*ALL_MODEL[:2], "--set", f"modules.model.dir={notok}"],
         "no readable tokenizer.json"),
        ("a tokenizer larger than the model's vocabulary", [*ALL_MODEL[:2], "--set", f"modules.model.dir={small}"],
         "the tokenizer has"),
        ("modules.planner.backend=model", ["--set", "modules.planner.backend=model"], "modules.planner.backend = model"),
        ("modules.model.max_seq beyond the model", [*ALL_MODEL[:2], "--set", f"modules.model.dir={d}",
                                                   "--set", "modules.model.max_seq=4096"], "modules.model.max_seq"),
    ]
    for name, args, needle in cases:
        r = rollout(agentflow, "--suite", "game24", "--n", "1", *args)
        check(f"bad config, {name}: exit 2 with a message", r.returncode == 2 and needle in r.stderr,
              (r.returncode, r.stderr[-300:]))


def check_mpi_train(agentflow, d, tmp):
    if not shutil.which("mpirun"):
        check("mpirun available", False)
        return
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    rd = os.path.join(tmp, "run")
    common = ["--set", "suite.name=multihop", "--set", "suite.max_train=8", "--set", "suite.max_test=4",
              "--set", "model.d_model=32", "--set", "model.n_layers=1", "--set", "model.n_heads=2",
              "--set", "model.n_kv_heads=1", "--set", "model.d_ff=64", "--set", "model.max_seq=256",
              "--set", "rollout.max_turns=2", "--set", "rollout.max_action_tokens=24", "--set", "rollout.batch_queries=2",
              "--set", "rollout.group_size=2", "--set", "log.progress=none", "--set", "log.level=info",
              "--set", f"modules.model.dir={d}", *ALL_MODEL, "--set", "modules.executor.max_tokens=8",
              "--set", "modules.verifier.max_tokens=8", "--set", "modules.generator.max_tokens=8",
              "--set", "modules.judge.max_tokens=8"]
    r = subprocess.run(["mpirun", "--oversubscribe", "-n", "3", agentflow, "train", "--run-dir", rd, *common,
                        "--set", "topology.learners=2", "--set", "run.iterations=2", "--set", "run.eval_every=0"],
                       capture_output=True, text=True, env=env, timeout=600)
    check("mpirun -n 3 train (2 learners, 1 actor), modules on the model: exit 0", r.returncode == 0,
          r.stdout[-400:] + r.stderr[-1500:])
    ranks = loads(r.stderr)
    check("the module model is loaded once on rank 0 and once on the actor, not on learner 1",
          sorted(ranks) == ["0", "2"], ranks)
    try:
        with open(os.path.join(rd, "world.json")) as f:
            w = json.load(f)
        check("world.json: modules on backend model with the model's dir and shape",
              all(w["modules"][m]["backend"] == "model" for m in MODULES) and w["module_model"]["dir"] == d and
              w["module_model"]["vocab_size"] == 151936, w.get("module_model"))
    except (OSError, ValueError, KeyError) as e:
        check("world.json readable", False, e)
    try:
        with open(os.path.join(rd, "metrics.jsonl")) as f:
            its = [json.loads(x) for x in f if x.strip()]
        check("two iterations recorded", len([x for x in its if "iteration" in x]) >= 2, its[-1:] if its else its)
    except (OSError, ValueError) as e:
        check("metrics.jsonl readable", False, e)
    e = run([agentflow, "eval", "--run-dir", rd, "--n", "2", *QUIET])
    rep = None
    try:
        rep = json.loads(e.stdout)
    except ValueError:
        pass
    check(f"eval --run-dir with modules on the model completes (exit {e.returncode})",
          e.returncode in (0, 1) and rep is not None, e.stderr[-600:])
    check("eval loads the module model once", len(loads(e.stderr)) <= 1 and "Traceback" not in e.stderr, loads(e.stderr))


def main():
    with tiny_qwen.session() as (env, tmp):
        build, agentflow, src = env.build, env.agentflow, env.src
        helper = os.path.join(build, "test_modules_model")
        d = os.path.join(tmp, "qwen")
        make_model(d, src)
        stop_d = os.path.join(tmp, "qwen-stop")
        make_model(stop_d, src, stop_token=45537)  # "ĠSTOP"
        pad_d = os.path.join(tmp, "qwen-pad")
        make_model(pad_d, src, stop_token=151900)  # a padding row of the vocabulary: no token
        check_prompts(helper, env, d)
        check_rollouts(agentflow, d, stop_d, pad_d)
        check_helper_episodes(build, d)
        check_bad_config(agentflow, d, tmp, src)
        check_mpi_train(agentflow, d, tmp)
    print(f"{len(FAILS)} failed" if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
