#!/usr/bin/env python3
"""Paired comparison of training runs by seed (issue 18's ablations), as Markdown.

Every ARM is a comma-separated list of run directories, one per seed, in the same seed
order as the base arm; each run's RUN/eval.jsonl gives its held-out greedy accuracy at the
evaluated iterations. For every iteration in --at that all runs of a pair evaluated, the
table has each arm's accuracy per seed, its mean and standard deviation, and its paired
differences from the base arm (base minus arm, in points: their mean and standard
deviation) with the seeds on which the base is ahead / level / behind. The verdict
compares the mean difference with two spreads: the seed spread (the larger of the two
arms' sample standard deviations, which holds what the seeds' data and initialisation
change in both arms alike) and the paired spread (the standard deviation of the
differences). "larger than the spread" clears the seed spread, "larger than the paired
spread only" clears the second alone, otherwise "within the spread".

usage: launch/rl_paired.py --at 250,500,750,1000 --base NAME=R1,R2,R3 NAME=R1,R2,R3 ...
"""
import argparse
import json
import os
import sys

from results_report import mean_std  # the sample std of launch/results_report.py's tables


def evals(run):
    path = os.path.join(run, "eval.jsonl")
    if not os.path.exists(path):
        sys.exit("rl_paired: %s: no eval.jsonl (not a training run directory?)" % run)
    acc = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                acc[int(e["iteration"])] = 100.0 * float(e["accuracy"])
            except (ValueError, KeyError, TypeError) as err:
                sys.exit("rl_paired: %s:%d: bad evaluation line (%s)" % (path, n, err))
    return acc


def arm(spec):
    name, sep, runs = spec.partition("=")
    if not sep or not name or not runs:
        sys.exit("rl_paired: arm '%s' is not NAME=RUN1,RUN2,..." % spec)
    return name, [r for r in runs.split(",") if r]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--at", required=True, help="comma-separated iterations")
    ap.add_argument("--base", required=True, help="NAME=RUN1,RUN2,... (one run per seed)")
    ap.add_argument("arms", nargs="+", help="NAME=RUN1,RUN2,... in the base's seed order")
    a = ap.parse_args()
    try:
        at = [int(x) for x in a.at.split(",") if x]
    except ValueError:
        sys.exit("rl_paired: --at '%s' is not a list of iterations" % a.at)
    bname, bruns = arm(a.base)
    base = [evals(r) for r in bruns]
    arms = []
    for name, runs in (arm(s) for s in a.arms):
        if len(runs) != len(bruns):
            sys.exit("rl_paired: arm %s has %d runs, the base %d" % (name, len(runs), len(bruns)))
        arms.append((name, [evals(r) for r in runs]))
    print("| iteration | arm | per seed | mean ± std | paired: %s minus arm, mean ± std | %s ahead / level / behind | verdict |"
          % (bname, bname))
    print("|---|---|---|---|---|---|---|")
    for it in at:
        if not all(it in b for b in base):
            continue
        bx = [b[it] for b in base]
        bm, bs, _ = mean_std(bx)
        print("| %d | %s | %s | %.1f ± %.1f | | | |" % (it, bname, " / ".join("%.1f" % x for x in bx), bm, bs))
        for name, acc in arms:
            if not all(it in x for x in acc):
                continue
            ax = [x[it] for x in acc]
            am, asd, _ = mean_std(ax)
            d = [b - x for b, x in zip(bx, ax)]
            dm, dsd, _ = mean_std(d)
            ahead = sum(1 for x in d if x > 1e-9)
            behind = sum(1 for x in d if x < -1e-9)
            spread = max(bs, asd)
            if abs(dm) > spread:
                verdict = "larger than the spread"
            elif abs(dm) > dsd:
                verdict = "larger than the paired spread only"
            else:
                verdict = "within the spread"
            print("| %d | %s | %s | %.1f ± %.1f | %+.1f ± %.1f | %d / %d / %d | %s (seed spread %.1f) |"
                  % (it, name, " / ".join("%.1f" % x for x in ax), am, asd, dm, dsd, ahead,
                     len(d) - ahead - behind, behind, verdict, spread))


if __name__ == "__main__":
    main()
