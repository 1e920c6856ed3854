#!/usr/bin/env python3
"""launch/rl_paired.py on hand-made run directories: the paired differences, their
spread, the ahead / level / behind counts and the verdicts, checked against numbers
worked out by hand; and a clear error for a run without eval.jsonl or with a bad line."""
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "launch", "rl_paired.py")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True)


def make(root, name, accs):
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "eval.jsonl"), "w") as f:
        for it, a in accs.items():
            f.write(json.dumps({"iteration": it, "accuracy": a}) + "\n")
    return d


def main():
    with tempfile.TemporaryDirectory() as t:
        # at 100: arm A is 10 points behind on every seed (paired +10.0 ± 0.0 against a seed
        # spread of 20.0: the paired spread only), arm C level everywhere; at 200: C is level
        # on seed 1 and 30 behind on seeds 2 and 3 (paired +20.0 ± 17.3, seed spread 17.3:
        # larger than the spread); A has no evaluation at 200 and no run one at 300 (no rows)
        b = [make(t, "b%d" % s, {100: x, 200: y}) for s, (x, y) in
             enumerate([(0.5, 0.6), (0.7, 0.9), (0.9, 0.9)], 1)]
        a = [make(t, "a%d" % s, {100: x}) for s, x in enumerate([0.4, 0.6, 0.8], 1)]
        c = [make(t, "c%d" % s, {100: x, 200: y}) for s, (x, y) in
             enumerate([(0.5, 0.6), (0.7, 0.6), (0.9, 0.6)], 1)]
        r = run("--at", "100,200,300", "--base", "base=" + ",".join(b),
                "A=" + ",".join(a), "C=" + ",".join(c))
        assert r.returncode == 0, r.stderr
        rows = [l for l in r.stdout.splitlines() if l.startswith("| 1") or l.startswith("| 2")
                or l.startswith("| 3")]
        want = [
            "| 100 | base | 50.0 / 70.0 / 90.0 | 70.0 ± 20.0 | | | |",
            "| 100 | A | 40.0 / 60.0 / 80.0 | 60.0 ± 20.0 | +10.0 ± 0.0 | 3 / 0 / 0 | larger than the paired spread only (seed spread 20.0) |",
            "| 100 | C | 50.0 / 70.0 / 90.0 | 70.0 ± 20.0 | +0.0 ± 0.0 | 0 / 3 / 0 | within the spread (seed spread 20.0) |",
            "| 200 | base | 60.0 / 90.0 / 90.0 | 80.0 ± 17.3 | | | |",
            "| 200 | C | 60.0 / 60.0 / 60.0 | 60.0 ± 0.0 | +20.0 ± 17.3 | 2 / 1 / 0 | larger than the spread (seed spread 17.3) |",
        ]
        assert rows == want, "\n".join(["got:"] + rows + ["want:"] + want)
        # bad input: a missing eval.jsonl, a bad line, an arm of another size, a bad --at
        r = run("--at", "100", "--base", "base=" + ",".join(b), "A=" + ",".join(a[:2] + [os.path.join(t, "none")]))
        assert r.returncode != 0 and "none: no eval.jsonl" in r.stderr, r.stderr
        r = run("--at", "100", "--base", "base=" + os.path.join(t, "none"), "A=" + a[0])
        assert r.returncode != 0 and "no eval.jsonl" in r.stderr, r.stderr
        with open(os.path.join(a[2], "eval.jsonl"), "a") as f:
            f.write('{"iteration": "x"}\n')
        r = run("--at", "100", "--base", "base=" + ",".join(b), "A=" + ",".join(a))
        assert r.returncode != 0 and "bad evaluation line" in r.stderr and ":2:" in r.stderr, r.stderr
        r = run("--at", "100", "--base", "base=" + ",".join(b), "A=" + a[0])
        assert r.returncode != 0 and "has 1 runs, the base 3" in r.stderr, r.stderr
        r = run("--at", "1x", "--base", "base=" + ",".join(b), "C=" + ",".join(c))
        assert r.returncode != 0 and "not a list of iterations" in r.stderr, r.stderr
        r = run("--at", "100", "--base", "base", "C=" + ",".join(c))
        assert r.returncode != 0 and "not NAME=RUN1" in r.stderr, r.stderr
    print("test_rl_paired: ok")


if __name__ == "__main__":
    main()
