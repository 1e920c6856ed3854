#!/usr/bin/python3
"""A planner in text trained end to end over MPI (issue 17 part 3): a random-weight tiny
Qwen2.5-architecture model with the real Qwen2.5 tokenizer and chat template (npm,
tests/hf/install_npm.sh), 2 learners + 1 actor (mpirun -n 3, topology.learners=2),
builtin modules (step 6: on a local model), multihop (4 training questions, so that a tiny model learns them):
  0. the oracle's actions as text replies (test_text_planner --demo): their ids are the
     JavaScript tokenizer's of "Sub-goal/Tool/Command" + <|im_end|>, the prompt the model
     planner's, every demonstrated episode solves its question;
     `train --init-from HFDIR` with the oracle's text warm start on one rank: the
     planner's shape is HFDIR's (world.json: vocabulary 151,936, text), the action NLL
     falls below 0.1; RUN_DIR/planner and RUN_DIR/warmstart hold the tokenizer files;
     model.warmstart_save_every writes the planner of step 20 of 30 (RUN_DIR/warmstart-step-20);
  1. from that planner, 2 more warm-start steps and 3 Flow-GRPO iterations on 2 learners
     + 1 actor (run A): steps taken (groups with reward variance), nothing rejected;
  2. the same run stopped after 2 iterations and resumed to 3 with its model.init_from
     moved away (run B): metrics.jsonl (timing fields aside) and
     RUN_DIR/model/model.safetensors equal run A's bit for bit;
  3. `eval --run-dir B` and `rollout --run-dir B` run the planner in text;
  4. `ckpt export --run-dir B` writes a directory with the tokenizer files that
     `agentflow score` and torch (tests/model_ref.py) read and agree on to 1e-4, and
     `eval --model EXPORT` gives the greedy results of `eval --run-dir B`;
  5. model.warmstart_planner=random (the format only) also trains in text (1 rank);
  6. issue 17's MPI test: train on 2 learners + 1 actor with the planner in text and the
     executor, verifier, generator and judge on one frozen local model
     (modules.*.backend=model, the same tiny model), then eval and export of that run.
Exit 77 when npm cannot install the tokenizer files."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "hf"))
import tiny_qwen  # noqa: E402
from model_ref import FAILS  # noqa: E402
from test_score_text import check, run  # noqa: E402

COMMON = ["--set", "suite.name=multihop", "--set", "suite.max_train=4", "--set", "suite.max_test=4",
          "--set", "model.max_seq=640", "--set", "rollout.max_turns=3", "--set", "rollout.max_action_tokens=40",
          "--set", "rollout.batch_queries=2", "--set", "rollout.group_size=4", "--set", "run.eval_every=0",
          "--set", "run.checkpoint_every=1", "--set", "model.warmstart_batch=4",
          "--set", "model.warmstart_planner=oracle", "--set", "algo.lr=1e-3", "--set", "run.time_limit_s=0"]
# the first warm start (one rank) teaches the 4 training questions' oracle replies well
# enough that Flow-GRPO's groups have reward variance; the MPI runs continue from it
WARM = ["--set", "model.warmstart_steps=30", "--set", "model.warmstart_lr=3e-2", "--set", "run.iterations=0"]
MPI = ["--set", "topology.learners=2", "--set", "model.warmstart_steps=2", "--set", "model.warmstart_lr=1e-3"]


def mpirun(n, args):
    return run(["mpirun", "-np", str(n), "--oversubscribe", *args])


def strip(path):
    out = []
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            out.append({k: v for k, v in d.items() if not (k.endswith("_s") or k.endswith("_per_s"))})
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def nll_lines(log):
    return [float(x.split("action NLL ")[1].split()[0]) for x in log.splitlines() if "action NLL" in x]


def main():
    with tiny_qwen.session() as (env, tmp):
        build, agentflow = env.build, env.agentflow
        hf = os.path.join(tmp, "qwen")
        tiny_qwen.write_model(hf, env.src, 1024)

        # 0a. the demonstrations: the oracle's actions as text replies, their ids the
        # tokenizer's (the JavaScript one's) followed by <|im_end|>, the prompt the model
        # planner's; every demonstrated episode solves its question
        helper = os.path.join(build, "test_text_planner")
        r = run([helper, "--demo", hf, "multihop", "3"])
        check("demonstrations in text: exit 0", r.returncode == 0, r.stderr[-800:])
        turns = [json.loads(x) for x in r.stdout.splitlines()] if r.returncode == 0 else []
        replies = [("Sub-goal: " + t["sub_goal"] + "\n" if t["sub_goal"] else "") + "Tool: " + t["tool"] +
                   ("\nCommand: " + t["argument"] if t["argument"] else "") for t in turns]
        ids, js = env.js_ids(hf, replies)
        check("the JavaScript tokenizer ran", ids is not None, js.stderr[-300:])
        want = [x + [151645] for x in ids] if ids is not None else []
        check(f"{len(turns)} demonstrated turns: the reply reads back to the oracle's action "
              "(text = Tool/Command lines, executed ok)", len(turns) >= 6 and
              all(t["text"] == rep and t["status"] == "ok" for t, rep in zip(turns, replies)),
              [(t["text"], rep, t["status"]) for t, rep in zip(turns, replies)][:2])
        check("their action ids (what the warm start trains on) are the tokenizer's ids of the reply + <|im_end|>",
              want and [t["action"] for t in turns] == want, [(t["action"], w_) for t, w_ in zip(turns, want)][:1])
        check("every demonstrated episode solves its question", turns and all(t["reward"] == 1 for t in turns),
              [t["reward"] for t in turns])
        first = [t for t in turns if t["episode"] == 0][0] if turns else None
        if first:
            q = run([helper, "--render", hf, "multihop"], json.dumps({"question": first["query"], "turns": []}))
            check("the first demonstrated prompt is the model planner's (its renderer, checked against jinja2 "
                  "and the JavaScript tokenizer by test_text_planner_hf)",
                  q.returncode == 0 and json.loads(q.stdout)["ids"] == first["prompt"], q.stderr[-300:])

        # 0b. model.warmstart_subgoal=plan: each demonstrated reply's Sub-goal line is the
        # chain still to walk, the next search first (computed here from the question), it
        # reads back, and the next turn's prompt shows it in the memory (the renderer's ids)
        r = run([helper, "--demo", hf, "multihop", "3", "model.warmstart_planner=oracle", "model.warmstart_subgoal=plan"])
        check("planned demonstrations: exit 0", r.returncode == 0, r.stderr[-800:])
        pturns = [json.loads(x) for x in r.stdout.splitlines()] if r.returncode == 0 else []

        def plan(question, j):  # "What is the Rk of the ... of the R1 of NAME?" -> turn j's plan
            rels = question[len("What is the "):].split(" of ")[:-1]
            rels = [x[4:] if x.startswith("the ") else x for x in rels][::-1]  # innermost first
            return " > ".join(["$1"] + rels) if j == 0 else " > ".join([f"#{j} {rels[j - 1]}"] + rels[j:])
        want_plan, k = [], 0
        for i, t in enumerate(pturns):
            k = k + 1 if i and pturns[i - 1]["episode"] == t["episode"] else 0
            want_plan.append(plan(t["query"], k))
        check(f"{len(pturns)} planned turns: Sub-goal = the chain still to walk (e.g. {want_plan[1:2]})",
              len(pturns) == len(turns) and [t["sub_goal"] for t in pturns] == want_plan,
              [(t["sub_goal"], w_) for t, w_ in zip(pturns, want_plan)][:3])
        check("planned turns: the same tools, commands and rewards as without the plan",
              [(t["tool"], t["argument"], t["reward"]) for t in pturns] == [(t["tool"], t["argument"], t["reward"]) for t in turns])
        second = [i for i, t in enumerate(pturns) if i and pturns[i - 1]["episode"] == t["episode"]][:1]
        if second:
            a, b = pturns[second[0] - 1], pturns[second[0]]
            mem = {"question": a["query"], "turns": [{"sub_goal": a["sub_goal"], "tool": a["tool"], "argument": a["argument"],
                                                      "result": a["result"], "status": a["status"]}]}
            q = run([helper, "--render", hf, "multihop"], json.dumps(mem))
            check("the second turn's prompt is the renderer's with the first turn's plan in the memory",
                  q.returncode == 0 and json.loads(q.stdout)["ids"] == b["prompt"] and
                  ("Sub-goal: " + a["sub_goal"]) in json.loads(q.stdout)["text"], q.stderr[-300:])

        # 0. the text warm start on one rank
        w = os.path.join(tmp, "W")
        r = run([agentflow, "train", "--run-dir", w, "--init-from", hf, *COMMON, *WARM,
                 "--set", "model.warmstart_save_every=20"])
        check("train --init-from HFDIR, warm start only: exit 0", r.returncode == 0, r.stderr[-1500:])
        if r.returncode:
            return 1
        with open(os.path.join(w, "world.json")) as f:
            planner = json.load(f)["planner"]
        check("the planner's shape is HFDIR's (vocabulary 151936, max_seq capped by model.max_seq, text)",
              planner["vocab_size"] == 151936 and planner["d_model"] == 24 and planner["max_seq"] == 640
              and planner.get("text") is True, planner)
        nll = nll_lines(r.stderr)
        check(f"the oracle text warm start's action NLL falls below 0.1 ({nll})", len(nll) >= 2 and nll[-1] < 0.1, nll)
        warm = os.path.join(w, "warmstart")
        for d, files in ((os.path.join(w, "planner"), ("config.json", "tokenizer.json", "tokenizer_config.json")),
                         (warm, ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"))):
            missing = [x for x in files if not os.path.exists(os.path.join(d, x))]
            check(f"{os.path.basename(d)}/ holds {', '.join(files)}", not missing, missing)
        # model.warmstart_save_every=20 of 30 steps: the planner of step 20, not of step 30
        snap = os.path.join(w, "warmstart-step-20")
        snaps = sorted(x for x in os.listdir(w) if x.startswith("warmstart-step-"))
        with open(os.path.join(snap, "model.safetensors"), "rb") as f1, \
                open(os.path.join(warm, "model.safetensors"), "rb") as f2:
            differs = f1.read() != f2.read()
        check("model.warmstart_save_every=20: RUN_DIR/warmstart-step-20 only, with the tokenizer files, another "
              "planner than the last step's", snaps == ["warmstart-step-20"] and differs
              and os.path.exists(os.path.join(snap, "tokenizer.json")), snaps)

        # 1. run A on 2 learners + 1 actor from the warm-started planner in text
        a, b = os.path.join(tmp, "A"), os.path.join(tmp, "B")
        r = mpirun(3, [agentflow, "train", "--run-dir", a, "--init-from", warm, *COMMON, *MPI, "--set", "run.iterations=3"])
        check("train --init-from on 2 learners + 1 actor (warm start, 3 iterations): exit 0", r.returncode == 0,
              r.stderr[-1500:])
        if r.returncode:
            return 1
        ma = strip(os.path.join(a, "metrics.jsonl"))
        check("3 metrics lines with trajectories", len(ma) == 3 and all(m.get("trajectories", 0) > 0 for m in ma),
              ma[:1])
        check("Flow-GRPO took steps (groups with reward variance, gradient norm > 0)",
              any(m["grad_norm"] > 0 and m["zero_variance_groups"] < m["groups"] for m in ma),
              [(m["grad_norm"], m["zero_variance_groups"]) for m in ma])
        check("no trajectory of the text planner was rejected",
              all(m["rejected_messages"] == 0 and m["failed_rollouts"] == 0 for m in ma),
              [(m["rejected_messages"], m["failed_rollouts"]) for m in ma])

        # 2. run B: 2 iterations, then resumed to 3 with HFDIR moved away
        r = mpirun(3, [agentflow, "train", "--run-dir", b, "--init-from", warm, *COMMON, *MPI, "--set", "run.iterations=2"])
        check("run B, 2 iterations: exit 0", r.returncode == 0, r.stderr[-1500:])
        moved = w + "-moved"
        os.rename(w, moved)
        r = mpirun(3, [agentflow, "train", "--run-dir", b, "--resume", "--set", "run.iterations=3"])
        check("run B resumed to 3 iterations without its model.init_from: exit 0", r.returncode == 0, r.stderr[-1500:])
        os.rename(moved, w)
        mb = strip(os.path.join(b, "metrics.jsonl"))
        check("resume: metrics.jsonl equals the uninterrupted run's (timing aside)", ma == mb,
              [(x, y) for x, y in zip(ma, mb) if x != y][:1])
        check("resume: RUN_DIR/model/model.safetensors equals the uninterrupted run's bit for bit",
              read(os.path.join(a, "model", "model.safetensors")) == read(os.path.join(b, "model", "model.safetensors")))

        # 3. eval and rollout of the run
        r = run([agentflow, "eval", "--run-dir", b, "--greedy"])
        check("eval --run-dir: exit 0", r.returncode == 0, r.stderr[-800:])
        try:
            ev = json.loads(r.stdout)
        except ValueError as e:
            ev = {}
            check("eval --run-dir: JSON", False, (e, r.stdout[-300:]))
        check("eval --run-dir: 4 questions, a planner in text", ev.get("questions") == 4 and
              ev.get("world", {}).get("planner", {}).get("text") is True, {k: ev.get(k) for k in ("questions", "model")})
        r = run([agentflow, "rollout", "--run-dir", b, "--n", "2", "--json"])
        check("rollout --run-dir: exit 0", r.returncode == 0, r.stderr[-800:])
        eps = [json.loads(x) for x in r.stdout.splitlines()[:-1]] if r.returncode == 0 else []
        check("rollout --run-dir: 2 episodes, status ok",
              len(eps) == 2 and all(e["status"] == "ok" for e in eps), [e.get("status") for e in eps])

        # 4. export, read back by the project and by torch
        e = os.path.join(tmp, "export")
        r = run([agentflow, "ckpt", "export", "--run-dir", b, "--out", e])
        check("ckpt export: exit 0", r.returncode == 0, r.stderr[-800:])
        for fn in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            check(f"export holds {fn}", os.path.exists(os.path.join(e, fn)))
        check("export: tokenizer.json byte for byte",
              read(os.path.join(e, "tokenizer.json")) == read(os.path.join(hf, "tokenizer.json")))
        with open(os.path.join(e, "config.json")) as f:
            ec = json.load(f)
        check("export: config.json of the trained planner (qwen2, vocabulary 151936, tied, context 640)",
              ec.get("model_type") == "qwen2" and ec.get("vocab_size") == 151936 and ec.get("tie_word_embeddings") is True
              and ec.get("max_position_embeddings") == 640, ec)
        toks = [151644, 8948, 198, 2610, 525, 264, 151645, 198, 151644, 77091, 198, 14540, 25]
        import torch  # noqa: E402
        from model_export import score, torch_logprobs  # noqa: E402
        ours = score(agentflow, e, toks)
        ref = torch_logprobs(e, toks)
        if ours is not None:
            d = float((ours[1:] - ref).abs().max()) if len(ours) == len(toks) else float((ours - ref).abs().max())
            check(f"export: agentflow score equals torch ({d:.2e})", d <= 1e-4, d)
        r2 = run([agentflow, "eval", "--model", e, "--config", os.path.join(b, "config.json"), "--greedy"])
        check("eval --model EXPORT: exit 0", r2.returncode == 0, r2.stderr[-800:])
        if r2.returncode == 0 and ev:
            ex = json.loads(r2.stdout)
            same = [(x["correct"], x.get("answer")) for x in ex.get("results", [])] == \
                [(x["correct"], x.get("answer")) for x in ev.get("results", [])]
            check("eval --model EXPORT: the same greedy results as eval --run-dir",
                  ex.get("correct") == ev.get("correct") and ex.get("questions") == ev.get("questions") and same,
                  (ex.get("correct"), ev.get("correct")))

        # 5. the format-only warm start in text, one rank
        c = os.path.join(tmp, "C")
        r = run([agentflow, "train", "--run-dir", c, "--init-from", hf, *COMMON, "--set", "model.warmstart_steps=3",
                 "--set", "model.warmstart_lr=1e-2", "--set", "model.warmstart_planner=random", "--set", "run.iterations=1"])
        check("warmstart_planner=random in text: exit 0", r.returncode == 0, r.stderr[-1500:])
        nll = nll_lines(r.stderr)
        check(f"random text warm start: action NLL falls ({nll})", len(nll) >= 2 and nll[-1] < nll[0], nll)

        # 6. the whole agent on local models over MPI (issue 17's test): the planner in text
        # trained on 2 learners + 1 actor with the executor, verifier, generator and judge on
        # one frozen local model (the tiny random Qwen2.5 with the real tokenizer; its replies
        # are not meant to be useful), then eval and export of that run
        mm = os.path.join(tmp, "M")
        mods = [x for m in ("executor", "verifier", "generator", "judge") for x in ("--set", f"modules.{m}.backend=model")]
        r = mpirun(3, [agentflow, "train", "--run-dir", mm, "--init-from", warm, *COMMON, *MPI, *mods,
                       "--set", f"modules.model.dir={hf}", "--set", "modules.model.max_seq=512", "--set", "run.iterations=1"])
        check("train, 2 learners + 1 actor, planner in text, modules.*.backend=model: exit 0", r.returncode == 0,
              r.stderr[-1500:])
        if r.returncode == 0:
            with open(os.path.join(mm, "world.json")) as f:
                wj = json.load(f)
            check("world.json: the planner in text and the modules' local model",
                  wj["planner"].get("text") is True and wj.get("module_model", {}).get("dir") == hf, wj.get("module_model"))
            r = run([agentflow, "eval", "--run-dir", mm, "--greedy"])
            check("eval --run-dir of that run (modules on the local model): exit 0", r.returncode == 0, r.stderr[-800:])
            e2 = os.path.join(tmp, "export2")
            r = run([agentflow, "ckpt", "export", "--run-dir", mm, "--out", e2])
            check("ckpt export of that run: exit 0 with tokenizer.json",
                  r.returncode == 0 and os.path.exists(os.path.join(e2, "tokenizer.json")), r.stderr[-800:])
    if FAILS:
        print(f"{len(FAILS)} failed")
        return 1
    print("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
