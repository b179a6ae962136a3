#!/usr/bin/env python3
"""Convert Amazon Shopping Queries (ESCI, github.com/amazon-science/esci-data) to feedrank's
search-mode JSONL, for `feedrank bench ab --dataset jsonl-search`.

ESCI ships as parquet, which no Debian package reads from C; this converter needs pandas +
pyarrow (pip install pandas pyarrow). Grades: E(xact) 3, S(ubstitute) 2, C(omplement) 1,
I(rrelevant) 0 (override with --grades E=3,S=2,C=1,I=0).

  esci_to_jsonl.py shopping_queries_dataset_examples.parquet shopping_queries_dataset_products.parquet \\
      --split test --locale us --version small > esci-us-test.jsonl
"""
import argparse
import json
import sys

import pandas as pd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("examples")
    ap.add_argument("products")
    ap.add_argument("--split", default="test", choices=["train", "test", "all"])
    ap.add_argument("--locale", default="us")
    ap.add_argument("--version", default="small", choices=["small", "large"], help="small = the reduced task-1 set (small_version == 1)")
    ap.add_argument("--grades", default="E=3,S=2,C=1,I=0")
    ap.add_argument("--text", default="{product_title}", help="item text template over product columns")
    a = ap.parse_args()
    grades = {k: float(v) for k, v in (kv.split("=") for kv in a.grades.split(","))}
    ex = pd.read_parquet(a.examples)
    pr = pd.read_parquet(a.products)
    need_ex = {"query_id", "query", "product_id", "product_locale", "esci_label", "small_version", "split"}
    need_pr = {"product_id", "product_locale", "product_title"}
    if not need_ex <= set(ex.columns) or not need_pr <= set(pr.columns):
        sys.exit(f"esci_to_jsonl: expected columns {sorted(need_ex)} and {sorted(need_pr)}")
    ex = ex[ex.product_locale == a.locale]
    if a.version == "small":
        ex = ex[ex.small_version == 1]
    if a.split != "all":
        ex = ex[ex.split == a.split]
    bad = set(ex.esci_label) - set(grades)
    if bad:
        sys.exit(f"esci_to_jsonl: unknown labels {sorted(bad)}")
    pr = pr[(pr.product_locale == a.locale) & pr.product_id.isin(set(ex.product_id))]
    out = sys.stdout
    for row in pr.itertuples(index=False):
        fields = {c: ("" if pd.isna(getattr(row, c)) else str(getattr(row, c))) for c in pr.columns}
        out.write(json.dumps({"item_id": row.product_id, "text": a.text.format(**fields)}, ensure_ascii=False) + "\n")
    for qid, g in ex.groupby("query_id", sort=True):
        out.write(json.dumps({"query": g["query"].iloc[0], "judgements": {p: grades[l] for p, l in zip(g.product_id, g.esci_label)}},
                             ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
