#!/usr/bin/env python3
"""The worked example of suite task: a corpus of fictional countries and questions that
only a search of it answers (README, "Your own task").

Writes OUT/corpus.jsonl ({"id", "title", "text"}: one passage per fact, "capital of
Omkaia" -> "Wensol"), OUT/train.jsonl and OUT/test.jsonl
({"question", "answer", "judge", "trace", "metadata"}). Deterministic in --seed (Python's
random.Random). Train and test ask about different countries, so a planner must search
and read; it cannot remember. Standard library only.

    python3 launch/make_task_example.py --out task-example [--seed 1] [--countries 1000]
"""
import argparse
import json
import os
import random

SYL = ["ka", "lo", "mi", "ra", "ven", "tor", "sa", "li", "do", "mar", "bel", "quin", "zu", "fen", "gor", "ha",
       "is", "jo", "nel", "pra", "ri", "sol", "tam", "ur", "vi", "wen", "ya", "zor", "ex", "om", "dra", "kel"]
ATTRS = ["capital", "river", "founder", "currency"]


def word(rng, n):
    return "".join(rng.choice(SYL) for _ in range(n)).capitalize()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--countries", type=int, default=1000, help="countries in the corpus (a fifth are asked about in test)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    used = set()

    if not 5 <= a.countries <= 20000:
        ap.error("--countries: 5 .. 20000")

    def country_name():  # distinct, so that a search finds one country
        for _ in range(1000000):
            w = word(rng, 2 + rng.randrange(2)) + "ia"
            if w.lower() not in used:
                used.add(w.lower())
                return w
        raise SystemExit("make_task_example: ran out of country names")

    countries = []
    for i in range(a.countries):
        c = {"name": country_name()}
        for attr in ATTRS:
            c[attr] = word(rng, 2)  # values may repeat across countries
        countries.append(c)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "corpus.jsonl"), "w") as f:  # one fact per passage
        for i, c in enumerate(countries):
            for attr in ATTRS:
                f.write(json.dumps({"id": f"c{i}-{attr}", "title": f"{attr} of {c['name']}", "text": c[attr]}) + "\n")
    n_test = a.countries // 5
    splits = {"test": countries[:n_test], "train": countries[n_test:]}
    for split, cs in splits.items():
        rows = []
        for c in cs:
            for attr in ATTRS:
                rows.append({"question": f"What is the {attr} of {c['name']}?", "answer": c[attr], "judge": "exact",
                             "trace": [f"search {attr} of {c['name']}", f"answer {c[attr]}"],
                             "metadata": {"country": c["name"], "attribute": attr}})
        rng.shuffle(rows)
        with open(os.path.join(a.out, f"{split}.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print(f"{a.out}: {len(countries) * len(ATTRS)} passages, {len(splits['train']) * len(ATTRS)} train and "
          f"{len(splits['test']) * len(ATTRS)} test questions")


if __name__ == "__main__":
    main()
