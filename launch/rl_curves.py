#!/usr/bin/env python3
"""Summaries of training runs as Markdown (issue 18): per run, greedy held-out accuracy
before and after Flow-GRPO (RUN/eval.jsonl), the best evaluation, the iterations, and the
learning curves from RUN/metrics.jsonl averaged over windows of --every iterations:
sampled reward, policy entropy, KL to the reference, the zero-variance share of the
groups and the learning rate, and pass@K of the evaluations that sampled
(run.eval_samples = K).

usage: launch/rl_curves.py [--every 25] [--curves] RUN_DIR...
"""
import argparse
import json
import os


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def pct(x):
    return "%.1f" % (100 * x) if x is not None else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--curves", action="store_true")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    print("| run | before RL | after RL | best (iteration) | RL iterations | eval n |")
    print("|---|---|---|---|---|---|")
    for r in a.runs:
        ev = lines(os.path.join(r, "eval.jsonl"))
        m = lines(os.path.join(r, "metrics.jsonl"))
        if not ev:
            print("| %s | - | - | - | %d | - |" % (os.path.basename(r), len(m)))
            continue
        best = max(ev, key=lambda e: (e["accuracy"], -e["iteration"]))
        print("| %s | %s | %s | %s (%d) | %d | %d |" % (
            os.path.basename(r), pct(ev[0]["accuracy"]), pct(ev[-1]["accuracy"]), pct(best["accuracy"]),
            best["iteration"], len(m), ev[0]["questions"]))
    if not a.curves:
        return
    for r in a.runs:
        m = lines(os.path.join(r, "metrics.jsonl"))
        evs = lines(os.path.join(r, "eval.jsonl"))
        ev = {e["iteration"]: e["accuracy"] for e in evs}
        # pass@K (K = run.eval_samples) of the evaluations that sampled
        pk = {e["iteration"]: e["pass_at_k"][str(e["samples"])] for e in evs if "pass_at_k" in e}
        print("\n%s\n" % os.path.basename(r))
        print("| iterations | greedy accuracy at the end | pass@K at the end | sampled reward | entropy | KL | zero-variance share | lr |")
        print("|---|---|---|---|---|---|---|---|")
        for s in range(0, len(m), a.every):
            w = m[s:s + a.every]
            mean = lambda k: sum(x.get(k, 0) or 0 for x in w) / len(w)
            groups = sum(x.get("train/groups", 0) for x in w)
            zv = sum(x.get("train/zero_variance_groups", 0) for x in w)
            end = s + len(w)
            print("| %d-%d | %s | %s | %.3f | %.3f | %.4f | %.2f | %.2g |" % (
                s, end - 1, pct(ev.get(end)), pct(pk.get(end)), mean("rollout/reward_mean"), mean("train/entropy"),
                mean("train/kl"), zv / groups if groups else 0, mean("train/lr")))


if __name__ == "__main__":
    main()
