#!/usr/bin/env python3
"""What a multihop planner gets wrong, episode by episode (issue 17): greedy episodes of a model
directory on a split (or a JSONL file of questions), each compared turn by turn with the
oracle's walk, and the first place it leaves that walk put in one class:

  correct          reward 1
  format           the reply did not read as an action (tool status bad_action, no tool)
  wrong tool       a tool other than search, or stop before the walk's end
  repeat $1        "search $1" again after the first turn
  first not $1     the first action is not "search $1" (a copied name included)
  wrong index      "#k rel" with the right relation but another turn number k
  branch           the wrong relation, one the previous result lists (at a person: birthplace
                   where the question asks the mother, or the reverse); "expected -> chosen"
                   is counted separately, with the turn
  unlisted         a relation the previous result does not list
  name             a command that is not a placeholder: a copied entity name, right or mis-copied
  turns            the walk was right but the turns ran out before its end
  answer           every action as the oracle's, the answer still wrong (generator/format)

The oracle walk of a question "What is the r_h of ... of the r_1 of X?" is "search $1", then
"search #1 r_1", ..., "search #(h-1) r_(h-1)"; the generator reads r_h from the last result.
Also per hop count (2-4): questions and greedy accuracy. Use it on TRAINING questions (--split
train, or --dataset with questions carved from the training split) to tell memorisation from a
rule not learned, and on the test split only for a final figure.

usage: launch/multihop_errors.py --model DIR --config CONFIG [--split train|test | --dataset F]
       [--n N|all] [--agentflow build/agentflow] [--rollouts FILE] [--save FILE]
  --rollouts FILE  read `agentflow rollout --greedy --json` output from FILE instead of running it
  --save FILE      keep the rollout output that was run
"""
import argparse
import collections
import json
import re
import subprocess
import sys

from multihop_diag import chain  # the same folder


def listed(result):
    """The relations a search result lists ("X (person): birthplace A; mother B")."""
    body = result.split("):", 1)[1] if "):" in result else ""
    return [p.strip().split(" ")[0] for p in body.split(";") if p.strip()]


def classify(e):
    """(class, detail) of one episode."""
    if e.get("reward", 0) >= 1:
        return "correct", ""
    rs, ts = chain(e["query"]), e["turns"]
    walk = ["search $1"] + ["search #%d %s" % (k + 1, r) for k, r in enumerate(rs[:-1])]
    for i, want in enumerate(walk):
        if i >= len(ts):
            return "turns", "%d of %d turns" % (len(ts), len(walk))
        t = ts[i]
        if t.get("tool_status") == "bad_action" or not t.get("tool"):
            return "format", t.get("action", "")[:60]
        got = "%s %s" % (t["tool"], t.get("argument", "")) if t.get("argument") else t["tool"]
        if got == want:
            continue
        if t["tool"] != "search":
            return "wrong tool", "turn %d: %s" % (i + 1, t["tool"])
        arg = t.get("argument", "")
        if i == 0:
            return "first not $1", arg[:40]
        if arg == "$1":
            return "repeat $1", ""
        m = re.match(r"#(\d+) (\w+)$", arg)
        if not m:
            return "name", "turn %d: %s" % (i + 1, arg[:40])
        k, rel = int(m.group(1)), m.group(2)
        if rel == rs[i - 1]:
            return "wrong index", "turn %d: #%d" % (i + 1, k)
        prev = ts[k - 1]["result"] if 0 < k <= i else ""
        if rel in listed(prev):
            return "branch", "turn %d: %s -> %s" % (i + 1, rs[i - 1], rel)
        return "unlisted", "turn %d: %s -> %s" % (i + 1, rs[i - 1], rel)
    return "answer", "%r vs gold %r" % (e.get("answer", ""), e.get("gold", ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--config")
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--dataset", help="a JSONL file of questions replacing the test split")
    ap.add_argument("--n", default="all")
    ap.add_argument("--agentflow", default="build/agentflow")
    ap.add_argument("--rollouts", help="read rollout --json output from this file")
    ap.add_argument("--save", help="write the rollout output here")
    a = ap.parse_args()
    if a.rollouts:
        lines = open(a.rollouts).read().splitlines()
    else:
        if not a.model or not a.config:
            sys.exit("multihop_errors.py: --model and --config (or --rollouts) are needed")
        cmd = [a.agentflow, "rollout", "--model", a.model, "--config", a.config, "--greedy", "--json", "--n", a.n]
        cmd += ["--split", "test", "--set", "data.test=" + a.dataset] if a.dataset else ["--split", a.split]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode not in (0, 1):
            sys.exit("multihop_errors.py: %s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr[-400:]))
        lines = p.stdout.splitlines()
        if a.save:
            open(a.save, "w").write(p.stdout)
    eps = [json.loads(l) for l in lines if l.startswith("{") and '"turns"' in l]
    if not eps:
        sys.exit("multihop_errors.py: no episodes")
    cls, det, hops = collections.Counter(), collections.Counter(), collections.defaultdict(lambda: [0, 0])
    for e in eps:
        c, d = classify(e)
        cls[c] += 1
        if c in ("branch", "unlisted", "wrong index", "answer", "format", "name"):
            det[(c, d if c in ("branch", "unlisted") else "")] += 1
        h = hops[len(chain(e["query"]))]
        h[0] += 1
        h[1] += c == "correct"
    n = len(eps)
    print("episodes %d, greedy accuracy %.1f%%" % (n, 100.0 * cls["correct"] / n))
    print("\n| hops | questions | greedy correct |\n|---|---|---|")
    for h in sorted(hops):
        print("| %d | %d | %d (%.1f%%) |" % (h, hops[h][0], hops[h][1], 100.0 * hops[h][1] / hops[h][0]))
    print("\n| first error | episodes | share of the wrong |\n|---|---|---|")
    wrong = n - cls["correct"]
    for c, k in cls.most_common():
        if c != "correct":
            print("| %s | %d | %.1f%% |" % (c, k, 100.0 * k / wrong if wrong else 0))
    if det:
        print("\n| class | turn: expected -> chosen | episodes |\n|---|---|---|")
        for (c, d), k in det.most_common():
            print("| %s | %s | %d |" % (c, d or "-", k))


if __name__ == "__main__":
    main()
