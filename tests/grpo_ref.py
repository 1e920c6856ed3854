#!/usr/bin/python3
"""PyTorch reference for learner/grpo: runs `test_grpo --dump FILE`, recomputes every
case's advantages (torch.std, as verl) and loss (verl's clipped / dual-clipped policy loss
and low_var_kl, aggregated token -> turn -> trajectory or as a token mean) with autograd,
and compares loss parts and dL/dlogp with the C values. Exits non-zero on any mismatch.

usage: /usr/bin/python3 tests/grpo_ref.py build/test_grpo
"""
import itertools
import json
import os
import subprocess
import sys
import tempfile

import torch

torch.set_default_dtype(torch.float64)


def pass_k_advantages(case, r, ok):
    """algo.adv_pass_k by enumeration: every k-subset of the OK members, its reward the best
    member's; a member's advantage is the mean over the subsets holding it minus the mean over
    all, over the population std of all (Chen et al. 2025 for 0/1 rewards)."""
    adv = [0.0] * len(r)
    use = [0] * len(r)
    k = min(case["pass_k"], len(ok) - 1)
    subsets = list(itertools.combinations(ok, k))
    best = torch.tensor([max(r[i] for i in sub) for sub in subsets])
    if bool((best == best[0]).all()):  # no k-subset differs: no signal
        if case["drop_zero_variance"]:
            return adv, use
        for i in ok:
            use[i] = 1
        return adv, use
    rbar, sigma = best.mean(), torch.std(best, unbiased=False)
    for i in ok:
        held = torch.tensor([b for b, sub in zip(best.tolist(), subsets) if i in sub])
        a = held.mean() - rbar
        if case["normalize_std"]:
            a = a / (sigma + case["eps"])
        adv[i] = float(torch.tensor(a.item(), dtype=torch.float32))
        use[i] = 1
    return adv, use


def advantages(case, grp):
    """verl compute_grpo_outcome_advantage over the OK members (trajectory or turn rows)."""
    r = [float(x) for x in grp["rewards"]]
    ok = [i for i, s in enumerate(grp["status"]) if s == 0]
    if case.get("pass_k", 0) and len(ok) >= 2 and any(r[i] != r[ok[0]] for i in ok):
        return pass_k_advantages(case, r, ok)
    rows = []
    for i in ok:
        rows += [r[i]] * (grp["n_turns"][i] if case["adv_turn"] else 1)
    adv = [0.0] * len(r)
    use = [0] * len(r)
    if not ok:
        return adv, use
    zero_var = all(r[i] == r[ok[0]] for i in ok)
    if zero_var and case["drop_zero_variance"]:
        return adv, use
    t = torch.tensor(rows)
    if len(rows) == 1:
        mean, std = torch.tensor(0.0), torch.tensor(1.0)
    else:
        mean, std = t.mean(), torch.std(t)  # unbiased, as verl
    for i in ok:
        a = torch.tensor(r[i]) - mean
        if case["normalize_std"]:
            a = a / (std + case["eps"])
        adv[i] = float(torch.tensor(a.item(), dtype=torch.float32))  # the C side stores float
        use[i] = 1
    return adv, use


def token_losses(case, logp, old, ref, A):
    neg = torch.clamp(logp - old, min=-20.0, max=20.0)
    ratio = torch.exp(neg)
    l1 = -A * ratio
    l2 = -A * torch.clamp(ratio, 1 - case["clip_low"], 1 + case["clip_high"])
    m = torch.maximum(l1, l2)
    clipped = (l2 > l1).double()
    if case["dual_clip"] > 0:
        l3 = -A * case["dual_clip"]
        pg = torch.where(A < 0, torch.minimum(l3, m), m)
    else:
        pg = m
    kl = ref - logp
    kl = torch.clamp(kl, min=-20.0, max=20.0)
    kld = torch.clamp(torch.exp(kl) - kl - 1, min=-10.0, max=10.0)
    return pg, kld, clipped


def check_case(k, case):
    errors = []

    def close(name, got, want, rtol=1e-6, atol=1e-7):
        if abs(got - want) > atol + rtol * abs(want):
            errors.append(f"case {k}: {name}: C {got!r} vs torch {want!r}")

    # advantages
    ref_adv = []
    for g, grp in enumerate(case["groups"]):
        adv, use = advantages(case, grp)
        ref_adv.append(adv)
        for i in range(len(adv)):
            close(f"group {g} member {i} adv", grp["adv"][i], adv[i], 1e-6, 1e-6)
            if grp["use"][i] != use[i]:
                errors.append(f"case {k}: group {g} member {i}: use C {grp['use'][i]} vs {use[i]}")

    off = case["tok_offset"]
    S = len(off) - 1
    n_tok = off[-1]
    logp = torch.tensor(case["logp"], requires_grad=True)
    old = torch.tensor(case["old_logp"])
    ref = torch.tensor(case["ref_logp"])
    # per-token advantage and aggregation weight, built from our own advantages
    A = torch.zeros(n_tok)
    w = torch.zeros(n_tok)
    samples = []
    for s in range(S):
        g, i, t = case["group"][s], case["member"][s], case["turn"][s]
        grp = case["groups"][g]
        a = ref_adv[g][i]
        if case["final_turn_only"] and t != grp["n_turns"][i] - 1:
            a = 0.0
        on = advantages(case, grp)[1][i] == 1 and off[s + 1] > off[s]
        A[off[s]:off[s + 1]] = a
        samples.append((case["traj_id"][s], on, off[s], off[s + 1]))
    on_tok = [j for (_, on, b, e) in samples if on for j in range(b, e)]
    if case["token_mean"]:
        for j in on_tok:
            w[j] = 1.0 / len(on_tok)
    else:
        trajs = {}
        for (tid, on, b, e) in samples:
            if on:
                trajs.setdefault(tid, []).append((b, e))
        G = len(trajs)
        for tid, turns in trajs.items():
            for (b, e) in turns:
                w[b:e] = 1.0 / (G * len(turns) * (e - b))
    pg, kl, clipped = token_losses(case, logp, old, ref, A)
    pg_loss = (w * pg).sum()
    kl_loss = (w * kl).sum()
    loss = pg_loss + case["kl_coef"] * kl_loss
    loss.backward()
    close("loss", case["loss"], loss.item(), 1e-6, 1e-9)
    close("pg_loss", case["pg_loss"], pg_loss.item(), 1e-6, 1e-9)
    close("kl", case["kl"], kl_loss.item(), 1e-6, 1e-9)
    if on_tok:
        idx = torch.tensor(on_tok)
        close("clip_frac", case["clip_frac"], clipped[idx].mean().item(), 0, 1e-12)
    grad = logp.grad
    for j in range(n_tok):
        close(f"grad[{j}]", case["grad"][j], grad[j].item(), 1e-5, 1e-8)
    return errors, len(on_tok)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "grpo_cases.json")
        subprocess.run([sys.argv[1], "--dump", path], check=True)
        with open(path) as f:
            cases = json.load(f)
    errors = []
    tokens = 0
    for k, case in enumerate(cases):
        e, n = check_case(k, case)
        errors += e
        tokens += n
    for e in errors[:50]:
        print("FAIL", e, file=sys.stderr)
    print(f"grpo_ref.py: {len(cases)} cases, {tokens} contributing tokens, {len(errors)} mismatches",
          file=sys.stderr)
    if not cases or tokens < 100:
        print("FAIL: too few cases/tokens to be a test", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
