#!/usr/bin/env python3
"""served_ab.py - feed-mode NDCG@10 through the served path: the exact cases `feedrank bench ab
--dump-cases` wrote, re-ranked by `feedrank rerank` (the code `feedrank serve` runs) with given
options, scored like the harness (the target is the only relevant item; candidates are sent with
the target last, so ties go against it, as the harness's --ties against).

  served_ab.py --bin build/feedrank --model DIR --store STORE --inter Games.dev.inter
               --cases cases.jsonl [--profile P] [--cold 5] --config NAME=JSON [--config ...]
               [--tune NAME=KEY:v1,v2,... [--min-cold V]] [--out results.json]

Each --config is a name and the JSON of request options (merged over --profile when given).
--tune runs the config NAME once per value of option KEY, picks the value with the best NDCG@10
on the tuning half (among those whose tuning-half cold-start NDCG@10 is >= --min-cold, if any),
and reports that setting: the report half never chooses anything. The cold-start slice is the
cases whose target appears fewer than --cold times in the file's histories (the harness's rule).
Evaluation tooling, not product code: the data never enters the repository.

Since issue #18, `bench ab` itself ranks through the served ranker (`--b seq --seq-model M`,
`--b profile:P` as written) and tests/test_one_path.sh proves, case by case, that `rerank --profile`
reproduces the harness's rankings. This script stays as an independent cross-check of a figure
through the `rerank` command, with ties against the target (the harness's default)."""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter


def load_histories(path):
    hist, counts = {}, Counter()
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        cu = [i for i, h in enumerate(header) if h.startswith("user_id")][0]
        cl = [i for i, h in enumerate(header) if h.startswith("item_id_list")][0]
        for line in f:
            p = line.rstrip("\n").split("\t")
            items = p[cl].split()
            hist[p[cu]] = items
            counts.update(items)
    return hist, counts


def ndcg10(rank):  # rank 0-based of the single relevant item
    return 1.0 / math.log2(rank + 2) if rank < 10 else 0.0


def run(args, cases, hist, counts, options, tmp):
    req = os.path.join(tmp, "req.jsonl")
    with open(req, "w") as f:
        for c in cases:
            cands = [i for i, g in c["candidates"] if g <= 0] + [i for i, g in c["candidates"] if g > 0]
            r = {"request_id": c["case"], "context": {"history": [{"item_id": i} for i in hist[c["case"]]]},
                 "candidates": [{"item_id": i} for i in cands], "options": options}
            f.write(json.dumps(r) + "\n")
    out = os.path.join(tmp, "out.jsonl")
    cmd = [args.bin, "rerank", "--model", args.model, "--store", args.store, "--input", req, "--output", out, "--errors", os.path.join(tmp, "err.jsonl"), "--json-names", "proto"]
    if args.profile:
        cmd += ["--profile", args.profile]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"served_ab: feedrank rerank failed ({p.returncode}): {p.stderr[-2000:]}")
    by_case = {}
    for line in open(out):
        r = json.loads(line)
        by_case[r["request_id"]] = [i["item_id"] for i in r["items"]]
    sums = Counter()
    for c in cases:
        target = [i for i, g in c["candidates"] if g > 0][0]
        order = by_case.get(c["case"])
        if order is None:
            sys.exit(f"served_ab: case {c['case']} was not answered (see {tmp}/err.jsonl)")
        rank = order.index(target) if target in order else len(order)
        v, hr = ndcg10(rank), 1.0 if rank < 10 else 0.0
        half = "tune" if c["tuning"] else "report"
        cold = counts[target] < args.cold
        for key in ("all", half) + (("cold", f"cold_{half}") if cold else ("warm", f"warm_{half}")):
            sums[key + ":n"] += 1
            sums[key + ":ndcg10"] += v
            sums[key + ":hr10"] += hr
    res = {}
    for key in ("all", "tune", "report", "cold", "cold_tune", "cold_report", "warm", "warm_report"):
        n = sums[key + ":n"]
        res[key] = {"n": n, "ndcg10": sums[key + ":ndcg10"] / n if n else None, "hr10": sums[key + ":hr10"] / n if n else None}
    return res


def main():
    ap = argparse.ArgumentParser()
    for a in ("--bin", "--model", "--store", "--inter", "--cases"):
        ap.add_argument(a, required=True)
    ap.add_argument("--profile")
    ap.add_argument("--cold", type=int, default=5)
    ap.add_argument("--config", action="append", default=[])
    ap.add_argument("--tune", action="append", default=[])
    ap.add_argument("--min-cold", type=float, default=None)
    ap.add_argument("--out")
    args = ap.parse_args()
    hist, counts = load_histories(args.inter)
    cases = [json.loads(l) for l in open(args.cases)]
    configs = dict(c.split("=", 1) for c in args.config)
    results = {}
    with tempfile.TemporaryDirectory(prefix="served_ab_") as tmp:
        for name, js in configs.items():
            results[name] = {"options": json.loads(js), **run(args, cases, hist, counts, json.loads(js), tmp)}
            print(name, json.dumps({k: results[name][k] for k in ("all", "report", "cold", "cold_report", "warm_report")}), flush=True)
        for t in args.tune:
            name, spec = t.split("=", 1)
            key, values = spec.split(":", 1)
            grid = []
            for v in values.split(","):
                opts = dict(json.loads(configs[name]), **{key: float(v)})
                r = run(args, cases, hist, counts, opts, tmp)
                grid.append((float(v), r))
                print(f"  {name} {key}={v}: tuning half {r['tune']['ndcg10']:.4f} (cold {r['cold_tune']['ndcg10']:.4f})", flush=True)
            ok = [g for g in grid if args.min_cold is None or (g[1]["cold_tune"]["ndcg10"] or 0) >= args.min_cold] or grid
            best_v, best = max(ok, key=lambda g: g[1]["tune"]["ndcg10"])
            results[f"{name}+tuned {key}"] = {"options": dict(json.loads(configs[name]), **{key: best_v}), **best,
                                               "grid": [[v, r["tune"]["ndcg10"], r["cold_tune"]["ndcg10"]] for v, r in grid]}
            print(f"{name} tuned {key}={best_v}", json.dumps({k: best[k] for k in ("all", "report", "cold", "cold_report", "warm_report")}), flush=True)
    if args.out:
        json.dump(results, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
