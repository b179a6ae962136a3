#!/usr/bin/env python3
"""Small synthetic datasets in the exact file formats the bench loaders read (Kaggle Home Depot
train.csv in latin-1, RecBole atomic files, WANDS tab-separated files, feedrank's JSONL), for the
loader tests and the end-to-end A/B runs in CI. Every text here is made up; no dataset text is copied.
Run: python3 scripts/golden/make_bench_fixtures.py tests/fixtures/bench"""
import csv
import json
import os
import random
import sys

out = sys.argv[1]
os.makedirs(os.path.join(out, "wands"), exist_ok=True)
rng = random.Random(11)
KINDS = {"drill": ["cordless drill", "hammer drill", "drill driver kit", "impact drill"],
         "bulb": ["led light bulb", "soft white bulb", "daylight bulb", "smart bulb"],
         "hose": ["garden hose", "expandable hose", "hose nozzle", "soaker hose"],
         "sink": ["kitchen sink", "bathroom sink", "undermount sink", "farmhouse sink"],
         "paint": ["interior paint", "exterior paint", "paint roller", "paint primer"],
         "game": ["racing game", "puzzle game", "adventure game", "sports game"]}
BRANDS = ["Acme", "Café Lumière", "Bolt", "Crest", "Dune", "Ember"]
products = []
for kind, names in KINDS.items():
    for n in names:
        for b in BRANDS[:3]:
            products.append((len(products) + 1000, f"{b} {n} {rng.choice(['pro', 'plus', 'basic', 'xl'])}", kind))

# Home Depot: id, product_uid, product_title, search_term, relevance (latin-1, quoted text)
with open(os.path.join(out, "homedepot.csv"), "w", encoding="latin-1", newline="") as f:
    w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    w.writerow(["id", "product_uid", "product_title", "search_term", "relevance"])
    rid = 1
    for kind, names in KINDS.items():
        for q in names[:3]:
            judged = rng.sample(products, 6)
            judged += [p for p in products if p[2] == kind][:3]
            for p in judged:
                rel = 3.0 if q.split()[-1] in p[1] else (2.33 if p[2] == kind else 1.0)
                w.writerow([rid, p[0], p[1], q, rel])
                rid += 1
    w.writerow([rid, 1001, "Broken row", "bad relevance", "abc"])
    w.writerow([rid + 1, 1002, "Out of range", "bad relevance", 7])

# RecBole: Tiny.test.inter + Tiny.item (tab-separated, typed headers, HTML entities in titles)
items = [(str(i), t) for i, (_, t, _) in enumerate(products)]
with open(os.path.join(out, "Tiny.item"), "w") as f:
    f.write("item_id:token\ttitle:token_seq\n")
    for i, t in items:
        f.write(f"{i}\t{t.replace('&', '&amp;')}{' &amp; more' if int(i) % 7 == 0 else ''}\n")
by_kind = {}
for i, (_, _, k) in enumerate(products):
    by_kind.setdefault(k, []).append(str(i))
with open(os.path.join(out, "Tiny.test.inter"), "w") as f:
    f.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
    for u in range(80):
        k = rng.choice(list(by_kind))
        hist = rng.sample(by_kind[k], 4) + rng.sample(items, 2)
        hist = [h if isinstance(h, str) else h[0] for h in hist]
        target = rng.choice([x for x in by_kind[k] if x not in hist])
        f.write(f"{u}\t{' '.join(hist)}\t{target}\n")
    f.write("80\t1 2 999999\t3\n")    # an unknown history id: dropped, counted
    f.write("81\t1 2\t888888\n")      # an unknown target: row skipped
    f.write("82\n")                   # malformed

# WANDS: product.csv, query.csv, label.csv (tab-separated)
with open(os.path.join(out, "wands", "product.csv"), "w") as f:
    f.write("product_id\tproduct_name\tproduct_class\tcategory hierarchy\tproduct_description\tproduct_features\trating_count\taverage_rating\treview_count\n")
    for pid, t, k in products:
        f.write(f"{pid}\t{t}\t{k}\tHome / {k}\tA {t}.\tcolor:black\t{rng.randint(0, 50)}\t4.5\t3\n")
with open(os.path.join(out, "wands", "query.csv"), "w") as f:
    f.write("query_id\tquery\tquery_class\n")
    for qi, (kind, names) in enumerate(KINDS.items()):
        f.write(f"{qi}\t{names[0]}\t{kind}\n")
with open(os.path.join(out, "wands", "label.csv"), "w") as f:
    f.write("id\tquery_id\tproduct_id\tlabel\n")
    lid = 0
    for qi, (kind, names) in enumerate(KINDS.items()):
        for pid, t, k in rng.sample(products, 8):
            lab = "Exact" if names[0] in t else ("Partial" if k == kind else "Irrelevant")
            f.write(f"{lid}\t{qi}\t{pid}\t{lab}\n")
            lid += 1
    f.write(f"{lid}\t0\t1000\tMaybe\n")        # a bad label
    f.write(f"{lid + 1}\t77\t1000\tExact\n")   # an unknown query id

# JSONL, both modes
with open(os.path.join(out, "search.jsonl"), "w") as f:
    for pid, t, k in products:
        f.write(json.dumps({"item_id": f"p{pid}", "text": t}) + "\n")
    for kind, names in KINDS.items():
        f.write(json.dumps({"query": names[1], "judgements": {f"p{pid}": (2 if names[1] in t else 1 if k == kind else 0) for pid, t, k in rng.sample(products, 8)}}) + "\n")
    f.write("not json\n")
with open(os.path.join(out, "feed.jsonl"), "w") as f:
    for i, t in items:
        f.write(json.dumps({"item_id": f"i{i}", "text": t}) + "\n")
    for u in range(40):
        k = rng.choice(list(by_kind))
        hist = rng.sample(by_kind[k], 3)
        target = rng.choice([x for x in by_kind[k] if x not in hist])
        f.write(json.dumps({"user_id": f"u{u}", "history": [f"i{h}" for h in hist], "target": f"i{target}"}) + "\n")
