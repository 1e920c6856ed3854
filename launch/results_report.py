#!/usr/bin/env python3
"""Writes RESULTS.md from the runs of launch/results.sh (see there).

Per suite: held-out greedy accuracy of the untrained planner, after the warm start and
after Flow-GRPO (mean +- sample std over seeds), RL iterations, wall time, core-hours,
parameter count, the command of every row; training curves as PNG (gnuplot); the
ablations and the accuracy against the turns allowed at evaluation.
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys


TARGETS = {"game24": ">= 90", "multihop": ">= 95 (3 hops)", "arith": ">= 95", "countdown": ">= 80"}


def load_jsonl(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def params_of(model_dir):
    path = os.path.join(model_dir, "model.safetensors")
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for k, v in header.items():
        if k == "__metadata__":
            continue
        c = 1
        for d in v["shape"]:
            c *= d
        total += c
    return total


def warm_seconds(log_path):
    try:
        text = open(log_path).read()
    except OSError:
        return None
    # "warm start 400/400 (ETA 0s): action NLL 0.43 (36.0s: demonstrations ...)"; older
    # logs: without the ETA, and "(36.0s)"
    m = re.findall(r"warm start (\d+)/(\d+)(?: \(ETA [^)]*\))?: action NLL [0-9.]+ \(([0-9.]+)s[:)]", text)
    return float(m[-1][2]) if m else 0.0


def run_info(out, name):
    d = os.path.join(out, name)
    done = os.path.join(d, "done")
    if not os.path.exists(done):
        return None
    info = json.load(open(done))
    ev = load_jsonl(os.path.join(d, "eval.jsonl"))
    info["eval"] = ev
    info["metrics"] = load_jsonl(os.path.join(d, "metrics.jsonl"))
    info["params"] = params_of(os.path.join(d, "model"))
    info["warm_s"] = warm_seconds(os.path.join(out, name + ".log"))
    info["dir"] = d
    return info


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None, 0
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s, len(xs)


def pct(m, s, n):
    if m is None:
        return "n/a"
    return f"{100 * m:.1f} ± {100 * s:.1f} (n={n})" if n > 1 else f"{100 * m:.1f} (n=1)"


def plot(out, suite, runs, png, title=None):
    """reward_mean per iteration and held-out accuracy per evaluation, every seed."""
    try:
        subprocess.run(["gnuplot", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    tmp = os.path.join(out, f".plot-{suite}")
    os.makedirs(tmp, exist_ok=True)
    cmds = []
    for seed, info in runs:
        r = os.path.join(tmp, f"reward{seed}.dat")
        with open(r, "w") as f:
            for row in info["metrics"]:
                f.write(f"{row['iteration']} {row['reward_mean']}\n")
        e = os.path.join(tmp, f"eval{seed}.dat")
        with open(e, "w") as f:
            for row in info["eval"]:
                f.write(f"{row['iteration']} {row['accuracy']}\n")
        cmds.append((seed, r, e))
    plots = []
    for seed, r, e in cmds:
        plots.append(f"'{r}' using 1:2 with lines lw 1 title 'train reward (sampled), seed {seed}'")
        plots.append(f"'{e}' using 1:2 with linespoints lw 2 title 'held-out greedy accuracy, seed {seed}'")
    script = (
        "set terminal pngcairo size 900,500 noenhanced\n" if has_cairo() else "set terminal png size 900,500 noenhanced\n"
    ) + (
        f"set output '{png}'\nset title '{title or suite}: Flow-GRPO after the warm start'\n"
        "set xlabel 'iteration'\nset ylabel 'accuracy / reward'\nset yrange [0:1]\nset key outside below\n"
        "plot " + ", ".join(plots) + "\n"
    )
    subprocess.run(["gnuplot"], input=script, text=True, check=False, capture_output=True)
    return os.path.exists(png)


_CAIRO = None


def has_cairo():
    global _CAIRO
    if _CAIRO is None:
        p = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        _CAIRO = "pngcairo" in (p.stdout + p.stderr)
    return _CAIRO


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--suites", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--ablate", default="")
    ap.add_argument("--minutes", default="?")
    ap.add_argument("--report", default="RESULTS.md")
    ap.add_argument("--plots", default="docs/results")
    ap.add_argument("--long", default="")
    ap.add_argument("--long-minutes", default="60")
    a = ap.parse_args()
    suites, seeds, ablate, long = a.suites.split(), a.seeds.split(), a.ablate.split(), a.long.split()
    os.makedirs(a.plots, exist_ok=True)
    machine = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
    cores = os.cpu_count()
    L = []
    L.append("# Learning results\n")
    L.append("Generated by `launch/results.sh` (runs) and `launch/results_report.py` (this file) on "
             f"{machine}, {cores} cores; every run is one rank (one core, `OPENBLAS_NUM_THREADS=1`), two at a "
             f"time. Each main run had {a.minutes} minutes of wall time (`run.time_limit_s`): the supervised warm start "
             "of its config (`launch/configs/SUITE.json`), then Flow-GRPO iterations until the time was spent. Accuracy is greedy, on the held-out split (`agentflow eval` semantics: reward 1 = "
             "solved). A seed (`run.seed`) draws the generated split, the initial weights and every sample, "
             "so seeds differ in data as well as in initialisation.\n")
    L.append("## Per suite\n")
    L.append("| suite | params | untrained | after warm start | after Flow-GRPO | issue-8 target | RL iterations | warm start min | RL min | core-hours, all seeds | seeds |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    commands = []
    curves = []
    for s in suites:
        un, ws, tr, its, wmin, rmin, ch, params = [], [], [], [], [], [], [], None
        runs = []
        for seed in seeds:
            u = run_info(a.out, f"{s}-untrained-s{seed}")
            if u and u["eval"]:
                un.append(u["eval"][0]["accuracy"])
                commands.append((f"{s} untrained, seed {seed}", u["command"]))
            r = run_info(a.out, f"{s}-s{seed}")
            if not r or not r["eval"]:
                continue
            runs.append((seed, r))
            params = r["params"]
            ws.append(r["eval"][0]["accuracy"])
            tr.append(r["eval"][-1]["accuracy"])
            its.append(r["eval"][-1]["iteration"])
            w = r["warm_s"] or 0.0
            wmin.append(w / 60)
            rmin.append(max(r["wall_s"] - w, 0) / 60)
            ch.append(r["wall_s"] / 3600)
            commands.append((f"{s} warm start + Flow-GRPO, seed {seed}", r["command"]))
        if not runs:
            L.append(f"| {s} | | {pct(*mean_std(un))} | not run | not run | {TARGETS.get(s, '')} | | | | | |")
            continue
        mi = mean_std(its)[0]
        L.append(f"| {s} | {params:,} | {pct(*mean_std(un))} | {pct(*mean_std(ws))} | {pct(*mean_std(tr))} | "
                 f"{TARGETS.get(s, '')} | {mi:.0f} | {mean_std(wmin)[0]:.1f} | {mean_std(rmin)[0]:.1f} | {sum(ch):.2f} | {len(runs)} |")
        png = os.path.join(a.plots, f"{s}.png")
        if plot(a.out, s, runs, png):
            curves.append((s, png))
    if ablate:
        L.append("\n## Ablations (seeds " + ", ".join(seeds) + "; held-out greedy accuracy, mean ± std)\n")
        L.append("Group normalisation off and final-turn reward start from the same seed's warm-started planner and "
                 "run as many Flow-GRPO iterations as its main run. The monolithic policy (`algo.policy=monolithic`: "
                 "one growing transcript of actions and tool results, trained as a single response) has the main "
                 "run's whole budget: its own warm start on transcripts (same steps), then Flow-GRPO for the rest "
                 "of the same wall time.\n")
        L.append("| suite | Flow-GRPO (memory) | group normalisation off | reward on the final turn only | "
                 "monolithic: after its warm start | monolithic: after Flow-GRPO | monolithic RL iterations |")
        L.append("|---|---|---|---|---|---|---|")
        for s in ablate:
            cells = []
            for kind in ("", "-nonorm", "-finalturn", "-mono"):
                first, last, its = [], [], []
                for seed in seeds:
                    name = f"{s}{kind}-s{seed}"
                    r = run_info(a.out, name)
                    if not r or not r["eval"]:
                        continue
                    first.append(r["eval"][0]["accuracy"])
                    last.append(r["eval"][-1]["accuracy"])
                    its.append(r["eval"][-1]["iteration"])
                    if kind:
                        commands.append((name, r["command"]))
                if kind == "-mono":
                    cells.append(pct(*mean_std(first)))
                cells.append(pct(*mean_std(last)))
                if kind == "-mono":
                    cells.append(f"{mean_std(its)[0]:.0f}" if its else "n/a")
            L.append(f"| {s} | " + " | ".join(cells) + " |")
        L.append("\nPaired by seed (each ablation against the Flow-GRPO run of the same seed, which shares its warm "
                 "start for the first two): mean difference in points, and the seeds where Flow-GRPO is ahead / "
                 "level / behind.\n")
        L.append("| suite | group normalisation off | reward on the final turn only | monolithic |")
        L.append("|---|---|---|---|")
        for s in ablate:
            cells = []
            for kind in ("-nonorm", "-finalturn", "-mono"):
                d = []
                for seed in seeds:
                    base, r = run_info(a.out, f"{s}-s{seed}"), run_info(a.out, f"{s}{kind}-s{seed}")
                    if base and r and base["eval"] and r["eval"]:
                        d.append(100 * (base["eval"][-1]["accuracy"] - r["eval"][-1]["accuracy"]))
                if d:
                    ahead = sum(x > 1e-9 for x in d)
                    behind = sum(x < -1e-9 for x in d)
                    cells.append(f"{sum(d) / len(d):+.1f} ({ahead}/{len(d) - ahead - behind}/{behind})")
                else:
                    cells.append("n/a")
            L.append(f"| {s} | " + " | ".join(cells) + " |")
        L.append("\nAccuracy against the number of turns allowed at evaluation (each seed's trained planner, "
                 "`agentflow eval --greedy --max-turns K`; mean ± std over seeds):\n")
        L.append("| suite | K=1 | K=2 | K=3 | K=4 | K=5 |")
        L.append("|---|---|---|---|---|---|")
        for s in ablate:
            cells = []
            for k in range(1, 6):
                xs = []
                for seed in seeds:
                    f = os.path.join(a.out, f"{s}-turns{k}-s{seed}.json")
                    try:
                        xs.append(json.load(open(f))["accuracy"])
                    except (OSError, ValueError, KeyError):
                        pass
                cells.append(pct(*mean_std(xs)))
            L.append(f"| {s} | " + " | ".join(cells) + " |")
    # multihop: accuracy by number of hops ("What is the R of the R of X?" has 2)
    if "multihop" in ablate:
        try:
            k = json.load(open("launch/configs/multihop.json"))["rollout"]["max_turns"]
            by = {}
            for seed in seeds:
                f = os.path.join(a.out, f"multihop-turns{k}-s{seed}.json")
                if not os.path.exists(f):
                    continue
                for r in json.load(open(f))["results"]:
                    h = r["question"].count(" of ")
                    c = by.setdefault(h, [0, 0])
                    c[0] += 1 if r["correct"] else 0
                    c[1] += 1
            if by:
                L.append(f"\nmultihop by number of hops (the trained planners of every seed pooled, {k} turns allowed):\n")
                L.append("| hops | questions | accuracy |")
                L.append("|---|---|---|")
                for h in sorted(by):
                    L.append(f"| {h} | {by[h][1]} | {100 * by[h][0] / by[h][1]:.1f} |")
        except (OSError, ValueError, KeyError):
            pass
    steps = {}
    for m in ("warmstart", "model"):
        for seed in seeds:
            try:
                steps.setdefault(m, []).append(json.load(open(os.path.join(a.out, f"game24-steps-{m}-s{seed}.json"))))
            except (OSError, ValueError):
                pass
    if steps:
        L.append("\n## Where game24 planners lose\n")
        L.append("Each held-out episode (greedy) checked after every step with an exact solver "
                 "(`launch/game24_steps.py`): is the puzzle still solvable? Beside each step, the same rate for a "
                 "uniformly random calculator step from the same states. Mean over seeds.\n")
        L.append("| planner | solved | first step keeps it solvable | random first step | second step, given a good "
                 "first | random second step | last step, given a good second |")
        L.append("|---|---|---|---|---|---|---|")
        for m, what in (("warmstart", "after the warm start"), ("model", "after Flow-GRPO")):
            rows = steps.get(m, [])
            if not rows:
                continue
            def avg(k):
                xs = [r[k] for r in rows if r.get(k) is not None]
                return f"{100 * sum(xs) / len(xs):.1f}" if xs else "n/a"
            L.append(f"| {what} (n={len(rows)}) | {avg('solved')} | {avg('first_step_ok')} | "
                     f"{avg('random_first_step_ok')} | {avg('second_step_ok_given_first')} | "
                     f"{avg('random_second_step_ok_given_first')} | {avg('last_step_ok_given_second')} |")
    if long:
        L.append(f"\n## Long runs ({a.long_minutes} minutes on one core, seed {seeds[0]})\n")
        L.append("The suite's config as in the main runs, with the issue's whole budget: the same warm start, then "
                 "Flow-GRPO until the time is spent; held-out greedy accuracy every 100 iterations.\n")
        L.append("| suite | params | untrained | after warm start | best during Flow-GRPO (iteration) | at the end | "
                 "RL iterations | wall min | core-hours |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for s in long:
            r = run_info(a.out, f"{s}-long-s{seeds[0]}")
            u = run_info(a.out, f"{s}-untrained-s{seeds[0]}")
            if not r or not r["eval"]:
                L.append(f"| {s} | | | not run | | | | | |")
                continue
            ev = r["eval"]
            best = max(ev[1:] or ev, key=lambda e: e["accuracy"])
            un = f"{100 * u['eval'][0]['accuracy']:.1f}" if u and u["eval"] else "n/a"
            L.append(f"| {s} | {r['params']:,} | {un} | {100 * ev[0]['accuracy']:.1f} | "
                     f"{100 * best['accuracy']:.1f} ({best['iteration']}) | {100 * ev[-1]['accuracy']:.1f} | "
                     f"{ev[-1]['iteration']} | {r['wall_s'] / 60:.0f} | {r['wall_s'] / 3600:.2f} |")
            commands.append((f"{s} long run, seed {seeds[0]}", r["command"]))
            png = os.path.join(a.plots, f"{s}-long.png")
            if plot(a.out, f"{s}-long", [(seeds[0], r)], png, f"{s}, {a.long_minutes} minutes"):
                curves.append((f"{s}, {a.long_minutes} minutes", png))
    if curves:
        L.append("\n## Training curves\n")
        for s, png in curves:
            L.append(f"![{s}]({png})\n")
    L.append("\n## Commands\n")
    L.append("```")
    for what, cmd in commands:
        # the binary may have been a copy set aside while the study ran (--bin)
        cmd = cmd.split(" ", 1)[1].replace(os.path.abspath(a.out) + "/", a.out.rstrip("/") + "/")
        L.append(f"# {what}\nbuild/agentflow {cmd}")
    L.append("```\n")
    text = "\n".join(L) + "\n"
    # Keep any hand-written analysis below the marker.
    marker = "<!-- END:generated -->"
    tail = ""
    if os.path.exists(a.report):
        old = open(a.report).read()
        if marker in old:
            tail = old[old.index(marker) + len(marker):]
    with open(a.report, "w") as f:
        f.write(text + marker + tail)
    print(f"results_report: wrote {a.report}", file=sys.stderr)


if __name__ == "__main__":
    main()
