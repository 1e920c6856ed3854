#!/usr/bin/python3
"""Regenerates the generated parts of BENCHMARKS.md from bench/results/*.csv.

    /usr/bin/python3 bench/report.py RESULTS_DIR BENCHMARKS.md

Each generated part sits between '<!-- BEGIN:name -->' and '<!-- END:name -->' lines and is
replaced whole; everything outside the markers is hand-written and kept. Parts: machine,
model, model_decode, train_paired, hf_model, wire, bcast, ckpt, scaling, async, targets, perfmodel. A missing CSV gives a one-line
'not run' note instead of a table. Standard library only."""
import csv
import math
import os
import re
import sys

RES, DOC = sys.argv[1], sys.argv[2]


def load(name):
    path = os.path.join(RES, name)
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cmds(part):
    path = os.path.join(RES, part + ".cmd")
    if not os.path.exists(path):
        return ""
    lines = [l.rstrip() for l in open(path) if l.strip()]
    return "Commands:\n\n```\n" + "\n".join(lines) + "\n```\n"


def table(rows, cols, heads=None):
    heads = heads or cols
    out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")) if not callable(c) else c(r) for c in cols) + " |")
    return "\n".join(out) + "\n"


def f(x, nd=2):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x) if x not in (None, "") else "n/a"
    if math.isnan(v):
        return "n/a"
    return f"{v:.{nd}f}"


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


parts = {}

# ------------------------------------------------------------------ machine
mt = os.path.join(RES, "machine.txt")
parts["machine"] = ("".join(f"- {l}" for l in open(mt)) if os.path.exists(mt) else "machine: not recorded\n")

# ------------------------------------------------------------------ model
model = load("model.csv")
if model:
    cols = list(model[0].keys())
    parts["model"] = table(model, cols) + "\n" + cmds("model")
else:
    parts["model"] = "not run (bench/run.sh --only model)\n"

# ------------------------------------------------------------------ decode, fp32 and bf16
dec = load("model_decode.csv")
if dec:
    parts["model_decode"] = table(dec, ["model", "threads", "c_dec1_tok_s", "torch_dec1_tok_s", "dec1_ratio",
                                        "c_dec16_tok_s", "torch_dec16_tok_s", "dec16_ratio", "c_dec1_bf16_tok_s",
                                        "torch_dec1_bf16_tok_s", "torch_dec1_bf16_mode", "dec1_bf16_ratio",
                                        "c_dec16_bf16_tok_s", "torch_dec16_bf16_tok_s", "torch_dec16_bf16_mode",
                                        "dec16_bf16_ratio", "dec1_cpu_ratio", "dec16_cpu_ratio", "dec1_bf16_cpu_ratio",
                                        "dec16_bf16_cpu_ratio"]) + "\n" + cmds("model_decode")
else:
    parts["model_decode"] = "not run (bench/run.sh --only decode)\n"

# ------------------------------------------------------------------ training, C and PyTorch alternated
tp = load("model_train_paired.csv")
if tp:
    parts["train_paired"] = table(tp, ["run_utc", "load_average", "model", "threads", "compute", "rounds",
                                       lambda r: f"**{f(r['ratio_median'])}**", lambda r: f(r["ratio_min"]),
                                       lambda r: f(r["ratio_max"]), lambda r: f"{r['rounds_met']} of {r['rounds']}",
                                       lambda r: f(r["c_tok_s"], 0), lambda r: f(r["torch_tok_s"], 0),
                                       lambda r: f(r["peak_gflops"], 0), lambda r: f(100 * float(r["c_peak_frac"]), 0),
                                       lambda r: f(100 * float(r["torch_peak_frac"]), 0), "commit"],
                              ["run (UTC)", "load average", "model", "threads", "C compute", "rounds",
                               "C / PyTorch, median of rounds", "min", "max", "rounds at the target",
                               "C tok/s", "PyTorch tok/s", "peak GFLOP/s", "C % of peak", "PyTorch % of peak",
                               "commit"]) \
        + "\n" + cmds("model_train_paired")
else:
    parts["train_paired"] = "not run (bench/run.sh --only train_paired)\n"

# ------------------------------------------------------------------ real-size HF model
hf = load("hf_model.csv")
if hf:
    parts["hf_model"] = table(hf, ["what", "threads", "value", "unit"]) + "\n" + cmds("hf_model")
else:
    parts["hf_model"] = "not run (bench/run.sh --only hf)\n"

# ------------------------------------------------------------------ wire
wire = load("wire.csv")
W = {}
if wire:
    trows = [r for r in wire if r["op"] in ("encode", "decode", "memcpy")]
    for r in wire:
        W[(r["set"], r["op"])] = r
    parts["wire"] = table(trows, ["set", "op", "trajectories", "bytes_per_traj", "reps",
                                  lambda r: f(r["min_ns"], 0), lambda r: f(r["median_ns"], 0), lambda r: f(r["max_ns"], 0),
                                  lambda r: f(r["median_MBps"], 1), lambda r: f(r["ratio_vs_memcpy"], 1)],
                          ["set", "op", "trajectories", "bytes/traj", "reps", "min ns/traj", "median ns/traj",
                           "max ns/traj", "median MB/s", "x memcpy"])
    ep = W.get(("episodes", "episode_s"))
    if ep:
        parts["wire"] += (f"\nEpisode wall time ({ep['trajectories']} real episodes, timed around af_episode_run): "
                          f"min {float(ep['min_ns'])/1e9:.4f} s, median {float(ep['median_ns'])/1e9:.4f} s, "
                          f"max {float(ep['max_ns'])/1e9:.4f} s. Encode + decode per trajectory as a share of the "
                          f"median episode: **{f(W[('episodes','share_pct')]['median_ns'], 5)} %** for the real "
                          f"episodes' trajectories, **{f(W[('fixture','share_pct')]['median_ns'], 5)} %** for the "
                          f"larger fixture trajectories.\n")
    for k, label, scale in (("planner_ns_per_action_token", "planner time per generated action token, prefill included (ms)", 1e-6),
                            ("action_tokens_per_episode", "action tokens per episode", 1.0),
                            ("tool_calls_per_episode", "tool calls per episode", 1.0),
                            ("tool_ns_per_call", "tool time per call (us; 0: the random-weight planner's actions named a tool but never reached a call)", 1e-3)):
        if ("episodes", k) in W:
            parts["wire"] += f"- {label}: {f(float(W[('episodes', k)]['median_ns']) * scale, 3)}\n"
    parts["wire"] += "\n" + cmds("wire")
else:
    parts["wire"] = "not run (bench/run.sh --only wire)\n"

# ------------------------------------------------------------------ bcast
bc = load("bcast.csv")
B = {}
if bc:
    for r in bc:
        B[(r["model"], int(r["ranks"]), r["method"])] = r
    parts["bcast"] = table(bc, ["model", "params", lambda r: f(float(r["bytes"]) / 1e6, 1), "ranks", "method", "reps",
                                lambda r: f(float(r["min_s"]) * 1e3, 3), lambda r: f(float(r["median_s"]) * 1e3, 3),
                                lambda r: f(float(r["max_s"]) * 1e3, 3), lambda r: f(r["median_GBps"], 2),
                                lambda r: f(r["ratio_vs_memcpy"], 2), lambda r: f(r["ratio_vs_mpi_bcast"], 2)],
                           ["model", "params", "MB", "ranks", "method", "reps", "min ms", "median ms", "max ms",
                            "median GB/s", "x memcpy", "x MPI_Bcast"]) + "\n" + cmds("bcast")
else:
    parts["bcast"] = "not run (bench/run.sh --only bcast)\n"

# ------------------------------------------------------------------ ckpt
ck = load("ckpt.csv")
parts["ckpt"] = (table(ck, list(ck[0].keys())) + "\n" + cmds("ckpt")) if ck else \
    "not run: bench/bench_ckpt.c is not on this branch yet (another issue); bench/run.sh runs it when built.\n"

# ------------------------------------------------------------------ scaling
sc_all = load("scaling.csv") or []
sc = [r for r in sc_all if r.get("study", "grid") == "grid"]     # the actors x learners x transport grid
sa = [r for r in sc_all if r.get("study") == "async"]            # the asynchronous-mode sweep
if sc:
    parts["scaling"] = table(sc, ["learners", "actors", "ranks", "transport",
                                  lambda r: "yes" if r["oversubscribed"] == "1" else "no", "mode", "straggler",
                                  lambda r: f(r["trajectories_per_s"], 1), lambda r: f(r["traj_per_iteration_s"], 1),
                                  lambda r: f(r["tokens_per_s"], 0), lambda r: f(r["learner_tokens_per_s"], 0),
                                  lambda r: f(r["iteration_s"], 3), lambda r: f(100 * float(r["rollout_share"]), 1),
                                  lambda r: f(100 * float(r["learn_share"]), 1),
                                  lambda r: f(100 * float(r["broadcast_share"]), 2),
                                  lambda r: f(100 * float(r["checkpoint_share"]), 1),
                                  lambda r: f(100 * float(r["wait_share"]), 1),
                                  lambda r: f(r["speedup_vs_1_actor"], 2), lambda r: f(r["efficiency"], 2)],
                             ["L", "A", "ranks", "transport", "oversub.", "mode", "straggler", "traj/s (rollout)",
                              "traj/s (iteration)", "gen. tok/s", "learner tok/s", "iteration s", "rollout %",
                              "learn %", "bcast %", "ckpt %", "learner wait %", "speed-up", "efficiency"])
    parts["scaling"] += ("\nPlots: bench/results/scaling_throughput.png, scaling_iteration_throughput.png, "
                         "scaling_efficiency.png, scaling_shares.png.\n\n" + cmds("scaling"))
else:
    parts["scaling"] = "not run (bench/scaling.sh)\n"

# ------------------------------------------------------------------ async
MODES, STRAGS = ("sync", "async-k1", "async-k2"), ("none", "10%x5")
AS = {}           # (mode, straggler) -> summary
if sa:
    def ips(r):   # trajectories per second over whole iterations (async overlaps the phases)
        return float(r["traj_per_iteration_s"])
    by = {}
    for r in sa:
        by.setdefault((r["mode"], r["straggler"]), []).append(r)
    for key, rs in by.items():
        sync = {x["rep"]: ips(x) for x in by.get(("sync", key[1]), [])}
        paired = [ips(r) / sync[r["rep"]] for r in rs if r["rep"] in sync]
        AS[key] = {"n": len(rs), "med": median([ips(r) for r in rs]), "lo": min(ips(r) for r in rs),
                   "hi": max(ips(r) for r in rs), "paired": paired,
                   "stale": median([float(r["staleness_mean"] or "nan") for r in rs]),
                   "bc": median([float(r["broadcast_s"]) for r in rs]), "it": median([float(r["iteration_s"]) for r in rs]),
                   "ro": median([float(r["rollout_s"]) for r in rs]), "le": median([float(r["learn_s"]) for r in rs]),
                   "wait": median([float(r["wait_share"]) for r in rs])}
    srt = sorted(sa, key=lambda r: (STRAGS.index(r["straggler"]) if r["straggler"] in STRAGS else 9,
                                    MODES.index(r["mode"]) if r["mode"] in MODES else 9, int(r["rep"] or 0)))
    out = [table(srt, ["mode", "straggler", "rep", "iterations_used", lambda r: f(r["traj_per_iteration_s"], 1),
                       lambda r: f(r["trajectories_per_s"], 1), lambda r: f(r["iteration_s"], 3), lambda r: f(r["rollout_s"], 3),
                       lambda r: f(r["learn_s"], 3), lambda r: f(float(r["broadcast_s"]) * 1e3, 2),
                       lambda r: f(100 * float(r["wait_share"]), 1), lambda r: f(r["staleness_mean"], 4)],
                 ["mode", "straggler", "rep", "iterations", "traj/s (iteration)", "traj/s (rollout)", "iteration s",
                  "rollout s", "learn s", "bcast ms", "learner wait %", "staleness_mean"])]
    rows = []
    for st in STRAGS:
        for m in MODES:
            a = AS.get((m, st))
            if not a:
                continue
            sy = AS.get(("sync", st))
            rows.append({"m": m, "s": st, "n": a["n"], "t": f"{a['med']:.1f} ({a['lo']:.1f}-{a['hi']:.1f})",
                         "r": f"{a['med'] / sy['med']:.2f}" if sy else "n/a",
                         "p": (f"{median(a['paired']):.2f} ({min(a['paired']):.2f}-{max(a['paired']):.2f})"
                               if a["paired"] else "n/a"),
                         "i": f(a["it"], 3), "ro": f(a["ro"], 3), "le": f(a["le"], 3), "b": f(a["bc"] * 1e3, 2),
                         "w": f(100 * a["wait"], 1), "st": f(a["stale"], 4)})
    out.append("\nMedians over the repetitions (trajectories/s over whole iterations: trajectories / iteration_s, the "
               "first iteration of each run left out); \"x sync\" divides the medians, \"paired\" is the median "
               "(min-max) of each repetition's ratio to the synchronous run of the same repetition and straggler "
               "setting (run next to it):\n\n")
    out.append(table(rows, ["m", "s", "n", "t", "r", "p", "i", "ro", "le", "b", "w", "st"],
                     ["mode", "straggler", "runs", "traj/s (iteration), median (min-max)", "x sync", "x sync, paired",
                      "iteration s", "rollout s", "learn s", "bcast ms", "learner wait %", "staleness_mean"]))
    parts["async"] = "".join(out) + "\n" + cmds("scaling_async")
else:
    parts["async"] = "not run (bench/scaling.sh without --no-async)\n"

# ------------------------------------------------------------------ targets
t = []
for m in ("A", "B"):
    p, mb, mc = B.get((m, 2, "publish")), B.get((m, 2, "mpi_bcast")), B.get((m, 2, "memcpy"))
    if p:
        r = float(p["ratio_vs_memcpy"])
        t.append(f"- Weight broadcast <= 1.5x memcpy at 2 ranks, model {m}: **{'met' if r <= 1.5 else 'missed'}**, "
                 f"{r:.2f}x (median {float(p['median_s'])*1e3:.2f} ms vs memcpy {float(mc['median_s'])*1e3:.2f} ms); "
                 f"a plain MPI_Bcast of the same bytes in the same run: {float(mb['ratio_vs_memcpy']):.2f}x memcpy, "
                 f"so the broadcast costs {float(p['ratio_vs_mpi_bcast']):.2f}x MPI_Bcast.")
if ("episodes", "share_pct") in W:
    s = float(W[("episodes", "share_pct")]["median_ns"])
    s2 = float(W[("fixture", "share_pct")]["median_ns"])
    t.append(f"- Trajectory serialization <= 0.1% of episode time: **{'met' if max(s, s2) <= 0.1 else 'missed'}**, "
             f"{s:.4f}% (real episodes' trajectories), {s2:.4f}% (fixture trajectories, ~4x larger): "
             f"{0.1 / max(s, s2, 1e-12):.0f}x under the limit.")
if sc:
    for tr in ("shm", "tcp"):
        r2 = [r for r in sc if r["learners"] == "1" and r["actors"] == "2" and r["transport"] == tr]
        if r2 and r2[0]["speedup_vs_1_actor"]:
            s = float(r2[0]["speedup_vs_1_actor"])
            t.append(f"- 2 actor ranks >= 1.8x the trajectories/s of 1 ({tr}, 1 learner): "
                     f"**{'met' if s >= 1.8 else 'missed'}**, {s:.2f}x (rollout-phase trajectories/s; 3 ranks on "
                     f"{os.cpu_count()} cores, but the learner sleeps while the actors roll out, so each actor has a core).")
sy, ks = AS.get(("sync", "10%x5")), [k for k in ("async-k1", "async-k2") if (k, "10%x5") in AS]
if sy and ks:
    best = max(ks, key=lambda k: AS[(k, "10%x5")]["med"])
    b = AS[(best, "10%x5")]
    r = b["med"] / sy["med"]
    others = "; ".join(f"{k}: {AS[(k, '10%x5')]['med'] / sy['med']:.2f}x" for k in ks if k != best)
    s0, b0 = AS.get(("sync", "none")), AS.get((best, "none"))
    t.append(f"- Asynchronous mode >= 1.3x the trajectories/s of synchronous mode when 10% of episodes are 5x slower "
             f"(1 learner + 2 actors, shm; trajectories / whole-iteration time, medians of {b['n']} and {sy['n']} "
             f"alternating runs): **{'met' if r >= 1.3 else 'missed'}**, best {best} {b['med']:.1f} vs sync "
             f"{sy['med']:.1f} trajectories/s = **{r:.2f}x** ({r / 1.3:.2f} of the target; "
             f"{'above' if r >= 1.3 else 'short'} by {abs(r - 1.3):.2f}x; paired per-repetition ratios "
             f"{min(b['paired']):.2f}-{max(b['paired']):.2f}x; {others}). "
             + (f"Without stragglers: {best} {b0['med'] / s0['med']:.2f}x sync. " if s0 and b0 else "")
             + f"Observed staleness_mean {b['stale']:.3f} (iterations): about one trajectory in {round(1 / max(b['stale'], 1e-9))} was sampled with the previous weights; "
             f"see \"Asynchronous mode and stragglers\" for why.")
else:
    t.append("- Asynchronous mode >= 1.3x synchronous with 10% of episodes 5x slower: **not measured** "
             "(bench/scaling.sh was run with --no-async).")
tpb = [r for r in (tp or []) if r["model"] == "B" and r["threads"] == "2" and r["compute"] == "bf16"]
if tpb:
    r = tpb[-1]
    same = [x for x in tpb if x.get("commit", "") == r.get("commit", "")] # the runs of the latest row's build
    meds = [float(x["ratio_median"]) for x in same]
    t.append(f"- Training >= 2x PyTorch bf16 autocast, model B at 2 threads, C and PyTorch steps alternated "
             f"({r['rounds']} rounds, the latest run, {r['run_utc']} UTC): "
             f"**{'met' if float(r['ratio_median']) >= 2 else 'missed'}**, median {float(r['ratio_median']):.2f}x "
             f"(rounds {float(r['ratio_min']):.2f}-{float(r['ratio_max']):.2f}x, {r['rounds_met']} of {r['rounds']} "
             f"at 2x); C at {100 * float(r['c_peak_frac']):.0f}% and PyTorch at {100 * float(r['torch_peak_frac']):.0f}% "
             f"of the vdpbf16ps peak measured in the run"
             + (f"; over the {len(same)} runs of {'commit ' + r['commit'] if r.get('commit') else 'this build'} "
                f"in the CSV the medians are {min(meds):.2f}-{max(meds):.2f}x (median "
                f"{sorted(meds)[len(meds) // 2] if len(meds) % 2 else (sorted(meds)[len(meds) // 2 - 1] + sorted(meds)[len(meds) // 2]) / 2:.2f}x), "
                f"met in {sum(m >= 2 for m in meds)}" if len(same) > 1 else "") + ".")
parts["targets"] = "\n".join(t) + "\n"

# ------------------------------------------------------------------ performance model
def perfmodel():
    if not sc:
        return "needs bench/results/scaling.csv (bench/scaling.sh)\n"
    def pick(L, A, tr):
        r = [x for x in sc if x["learners"] == str(L) and x["actors"] == str(A) and x["transport"] == tr]
        return r[0] if r else None
    emb, one = pick(1, 0, "none"), pick(1, 1, "shm")
    if not emb or not one:
        return "needs the embedded and the 1-learner 1-actor shm runs of bench/scaling.sh\n"
    C = os.cpu_count() or 1
    N = float(one["trajectories"]) / float(one["iterations_used"])
    t_ep = float(emb["rollout_s"]) / N                     # CPU time of one episode, no messages
    t_lat = max(float(one["rollout_s"]) / N - t_ep, 0.0)    # per-episode latency of the work pull + send
    tok_ep = float(emb["turns_mean"]) * float(emb["action_tokens_mean"])
    calls = float(emb["tool_calls_per_traj"])
    lt = float(emb["learner_tokens"]) / float(emb["iterations_used"])
    t_tok = float(emb["learn_s"]) / lt
    t_b = float(one["broadcast_s"])
    other = max(float(emb["iteration_s"]) - float(emb["rollout_s"]) - float(emb["learn_s"]), 0.0)
    out = [f"Inputs, measured (bench/scaling.sh):\n\n"
           f"- episode CPU time t_ep = {t_ep*1e3:.2f} ms, from the embedded run (1 process, no messages): "
           f"{tok_ep:.1f} generated tokens and {calls:.2f} tool calls per episode, i.e. {t_ep/tok_ep*1e3:.3f} ms per "
           f"generated token (prefill included); the builtin calculator's calls (microseconds of exact "
           f"arithmetic) are inside t_ep and charged to tokens: the metrics do not separate tool time;\n"
           f"- per-episode latency t_lat = {t_lat*1e3:.2f} ms: the 1-actor run's rollout time per episode minus t_ep, "
           f"i.e. the work-unit pull and the trajectory send, whose waits sleep (50 us doubling to 2 ms) instead of spinning;\n"
           f"- learner time per token t_tok = {t_tok*1e6:.2f} us ({lt:.0f} learner tokens per iteration), embedded run;\n"
           f"- broadcast t_b = {t_b*1e3:.2f} ms per iteration (1-actor run); serialization: see the wire table, well under 0.1 % of an episode, ignored; "
           f"checkpoints (scaling.csv, checkpoint share) are left out of T_iter.\n\n"
           f"Model of one synchronous iteration, L learners, A actors, N = {N:.0f} trajectories, C = {C} cores (the "
           f"learners sleep during the rollout and the actors during the update, so each phase has the cores):\n\n"
           f"    rollout(A) = max(N (t_ep + t_lat) / A,  N t_ep / min(A, C))      latency-bound, then CPU-bound\n"
           f"    learn(L)   = T t_tok / min(L, C) + (L > 1: allreduce ~ 2 t_b)\n"
           f"    T_iter     = t_b + rollout(A) + learn(L) + {other*1e3:.1f} ms;   trajectories/s = N / rollout(A)\n\n"]
    rows, errs = [], []
    for r in sc:
        L, A = int(r["learners"]), int(r["actors"])
        if A == 0:
            continue
        ro = max(N * (t_ep + t_lat) / A, N * t_ep / min(A, C))
        le = lt * t_tok / min(L, C) + (2 * t_b if L > 1 else 0.0)
        it = t_b + ro + le + other
        mi, mt = float(r["iteration_s"]), float(r["trajectories_per_s"])
        ei, et = 100 * (it - mi) / mi, 100 * (N / ro - mt) / mt
        if r is not one:
            errs.append((abs(ei), abs(et)))
        rows.append({"p": f"L={L} A={A} {r['transport']}" + (" (oversub.)" if r["oversubscribed"] == "1" else ""),
                     "a": f(mi, 3), "b": f(it, 3), "c": f(ei, 1), "d": f(mt, 1), "e": f(N / ro, 1), "g": f(et, 1)})
    out.append(table(rows, ["p", "a", "b", "c", "d", "e", "g"],
                     ["point", "iteration s measured", "predicted", "error %", "traj/s measured", "predicted", "error %"]))
    if errs:
        out.append(f"\nOver the {len(errs)} points not used for fitting (the fit uses the embedded and the L=1 A=1 shm "
                   f"runs): median absolute error {median([e[0] for e in errs]):.1f} % (iteration time) and "
                   f"{median([e[1] for e in errs]):.1f} % (trajectories/s); largest {max(e[0] for e in errs):.1f} % and "
                   f"{max(e[1] for e in errs):.1f} %.\n")
    # ---- extrapolation, grounded on model B's measured step and decode speed (bench_model)
    mb = [r for r in (model or []) if r["model"] == "B" and r["threads"] == "1"]
    if not mb:
        out.append("\nExtrapolation needs bench/results/model.csv (model B, 1 thread).\n")
        return "".join(out)
    PB = int(B[("B", 2, "memcpy")]["params"]) if ("B", 2, "memcpy") in B else 27795968
    dec_s_per_param = 1.0 / (float(mb[0]["c_dec1_tok_s"]) * PB)       # one generated token, batch 1, 1 core
    train_s_per_param = 1.0 / (float(mb[0]["c_train_tok_s"]) * PB)    # one learner token (fwd + bwd + AdamW), 1 core
    prompt_ep = lt / N - tok_ep                                        # prompt tokens per trajectory (learner tokens minus actions)
    ntraj, per_node = 512, 32
    nets = [("10 GbE", 1.25e9, 30e-6), ("100 Gb/s IB", 12.0e9, 2e-6), ("400 Gb/s", 48.0e9, 2e-6)]
    sizes = [("3.5M (model A)", 3.5e6), ("27.8M (model B)", 27.8e6), ("0.5B", 0.5e9), ("1.5B", 1.5e9), ("7B", 7e9)]
    out.append(f"\n### Extrapolation to clusters\n\n"
               f"Per-token costs scaled linearly with planner parameters P from model B's measured figures at 1 thread "
               f"(bench_model): decode {dec_s_per_param*1e9:.3f} ns per parameter per generated token, learner step "
               f"{train_s_per_param*1e9:.3f} ns per parameter per token (prefill charged at a third of a learner token). "
               f"An episode keeps the measured shape ({tok_ep:.0f} generated, {prompt_ep:.0f} prompt tokens, t_lat "
               f"{t_lat*1e3:.1f} ms); {ntraj} trajectories per iteration (64 queries x 8 samples); {per_node} ranks per "
               f"node, one core each, all actors except one learner node of {per_node} learner ranks (gradient allreduce "
               f"2·4P/BW); weights fp32, broadcast as a pipelined tree, 4P/BW + log2(ranks)·latency. CPU-only, this "
               f"implementation: a GPU deployment changes the per-token costs, not the structure. Cells: iteration time, "
               f"trajectories/s, broadcast share.\n\n")
    rows = []
    for sname, P in sizes:
        t_ep_P = tok_ep * dec_s_per_param * P + prompt_ep * train_s_per_param * P / 3
        for nodes in (1, 4, 16, 64):
            A = per_node * max(nodes - 1, 1) if nodes > 1 else per_node - 1
            L = per_node if nodes > 1 else 1
            ro = max(ntraj * (t_ep_P + t_lat) / A, math.ceil(ntraj / A) * t_ep_P)
            row = {"s": sname, "n": nodes, "a": A, "r": f(ro, 2)}
            for nn, bw, lat in nets:
                le = ntraj * (lt / N) * train_s_per_param * P / L + (2 * 4 * P / bw if L > 1 else 0)
                tb = 4 * P / bw + math.log2(A + L) * lat
                it = tb + ro + le
                row[nn] = f"{f(it, 1)} s, {f(ntraj / it, 1)}/s, {f(100 * tb / it, 1)} %"
            rows.append(row)
    out.append(table(rows, ["s", "n", "a", "r"] + [n[0] for n in nets],
                     ["planner", "nodes", "actor ranks", "rollout s"] + [n[0] for n in nets]))
    out.append("\nWith 1 node, 1 learner and 31 actors share it. Beyond 16 nodes the 512 trajectories of an "
               "iteration no longer keep every actor busy (one episode per actor and the rest idle): more nodes need "
               "more trajectories per iteration, or asynchronous mode.\n")
    return "".join(out)


parts["perfmodel"] = perfmodel()

# ------------------------------------------------------------------ write
SKELETON = "# Benchmarks\n\n" + "".join(f"<!-- BEGIN:{k} -->\n<!-- END:{k} -->\n\n" for k in parts)
doc = open(DOC).read() if os.path.exists(DOC) else SKELETON
for k, body in parts.items():
    pat = re.compile(r"(<!-- BEGIN:%s -->\n).*?(<!-- END:%s -->)" % (k, k), re.S)
    if not pat.search(doc):
        doc += f"\n<!-- BEGIN:{k} -->\n<!-- END:{k} -->\n"
    doc = pat.sub(lambda m: m.group(1) + body + m.group(2), doc)
open(DOC, "w").write(doc)
print(f"report: {DOC} regenerated from {RES}")
