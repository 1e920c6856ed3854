#!/usr/bin/env python3
"""Why a multihop planner fails (issue 18): two measurements on the TRAINING split (never the
test split), for a model directory (a run's warmstart/, or `agentflow ckpt export`).

  hops    per hop count: questions, greedy correct, and of the greedy failures how many have
          no sampled success in K samples (no signal for GRPO) or at least one (signal);
          the mean sampled accuracy. Then, one sampled episode per question, what the second
          action is after "search $1": the question's first relation ("correct"), another
          relation the first result lists ("listed"), one it does not list ("unlisted"),
          "search $1" again ("repeat$1"), stop or anything else.
  branch  at the person nodes, where the walk branches (birthplace or mother): the sampled
          share of "search #1 birthplace" / "search #1 mother" / anything else as the second
          action, per question type (the chain of relations, innermost first), N samples of
          each of up to Q questions of the type, each question with its own sampling seed.
          A planner that reads the question puts its mass on the chain's first relation; a
          share that does not change with the type means the choice ignores the question.

usage: launch/multihop_diag.py hops|branch --model DIR --config RUN/config.json [--n 300]
       [--samples 8] [--per 16] [--questions 8] [--agentflow build/agentflow]
"""
import argparse
import collections
import json
import math
import os
import re
import subprocess
import tempfile

RELS = ["capital", "country", "birthplace", "mother", "director", "founder", "headquarters"]


def chain(q):
    """The question's relations, innermost (the first hop) first."""
    rs = []
    for part in q[len("What is the "):].split(" of "):
        w = part.replace("the ", "")
        if w not in RELS:
            break
        rs.append(w)
    return rs[::-1]


def eval_train(a, samples):
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    extra = ["--samples", str(samples)] if samples > 0 else []
    subprocess.run([a.agentflow, "eval", "--model", a.model, "--config", a.config, "--split", "train", "--n", str(a.n),
                    "--greedy", "--results", path] + extra, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(path)]
    os.unlink(path)
    return rows


def second_action(ts, rs):
    a = ts[1]["action"]
    if a == "search $1":
        return "repeat$1"
    if a.startswith("stop"):
        return "stop"
    m = re.match(r"search #(\d+) (\w+)$", a)
    if not m:
        return "other"
    k, rel = int(m.group(1)), m.group(2)
    listed = k == 1 and re.search(r"[:;] %s " % rel, ts[0]["result"]) is not None
    return "correct" if k == 1 and rel == rs[0] else "listed" if listed else "unlisted"


def hops(a):
    by = collections.defaultdict(lambda: [0, 0, 0, 0, 0])
    for r in eval_train(a, a.samples):
        b = by[len(chain(r["question"]))]
        sc = r.get("samples_correct", 0)
        b[0] += 1
        b[1] += bool(r["correct"])
        b[4] += sc
        if not r["correct"]:
            b[2 if sc == 0 else 3] += 1
    print("| hops | questions | greedy correct | wrong, no sample right | wrong, a sample right | sampled accuracy |")
    print("|---|---|---|---|---|---|")
    for h in sorted(by):
        b = by[h]
        print("| %d | %d | %d | %d | %d | %.3f |" % (h, b[0], b[1], b[2], b[3], b[4] / (a.samples * b[0])))
    p = subprocess.run([a.agentflow, "rollout", "--model", a.model, "--config", a.config, "--split", "train", "--n",
                        str(a.n), "--json"], capture_output=True, text=True, check=True)
    cnt, lp = collections.Counter(), collections.defaultdict(list)
    for l in p.stdout.splitlines():
        e = json.loads(l)
        if "turns" not in e:
            continue
        rs, ts = chain(e["query"]), e["turns"]
        k = second_action(ts, rs) if len(ts) > 1 and ts[0]["action"] == "search $1" else "first not $1"
        cnt[(len(rs), k)] += 1
        if len(ts) > 1:
            lp[(len(rs), k)].append(math.exp(ts[1]["logprob"]))
    print("\n| hops | second action | episodes | mean probability of the action |")
    print("|---|---|---|---|")
    for k in sorted(cnt):
        v = lp.get(k, [])
        print("| %d | %s | %d | %s |" % (k[0], k[1], cnt[k], "%.3f" % (sum(v) / len(v)) if v else "-"))


def branch(a):
    by = collections.defaultdict(list)
    for r in eval_train(a, 0):
        rs = chain(r["question"])
        if rs and rs[0] in ("birthplace", "mother"):
            by[" ".join(rs)].append(r["question"])
    print("| chain (innermost first) | questions | samples | birthplace | mother | other |")
    print("|---|---|---|---|---|---|")
    for t in sorted(by):
        c = collections.Counter()
        for qi, q in enumerate(by[t][:a.questions]):
            p = subprocess.run([a.agentflow, "rollout", "--model", a.model, "--config", a.config, "--query", q, "--n",
                                str(a.per), "--json", "--seed", str(1000 + 17 * qi + len(t))],
                               capture_output=True, text=True, check=True)
            for l in p.stdout.splitlines():
                e = json.loads(l)
                if "turns" not in e:
                    continue
                ts = e["turns"]
                act = ts[1]["action"] if len(ts) > 1 and ts[0]["action"] == "search $1" else ""
                c["birthplace" if act == "search #1 birthplace" else "mother" if act == "search #1 mother" else "other"] += 1
        n = sum(c.values())
        print("| %s | %d | %d | %.2f | %.2f | %.2f |" % (t, min(a.questions, len(by[t])), n, c["birthplace"] / n,
                                                     c["mother"] / n, c["other"] / n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["hops", "branch"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--n", type=int, default=300, help="training questions (the first N)")
    ap.add_argument("--samples", type=int, default=8, help="hops: sampled episodes per question")
    ap.add_argument("--per", type=int, default=16, help="branch: samples per question")
    ap.add_argument("--questions", type=int, default=8, help="branch: questions per type")
    ap.add_argument("--agentflow", default="build/agentflow")
    a = ap.parse_args()
    hops(a) if a.what == "hops" else branch(a)


if __name__ == "__main__":
    main()
