#!/usr/bin/env bash
# quickstart.sh - from a fresh machine: installs the system packages, fetches and verifies the
# default model (all-MiniLM-L6-v2), builds feedrank, and runs the main job on the embedded
# example: indexes examples/catalog.csv into an item store and re-ranks the requests in
# examples/requests.jsonl (a search query, a feed history, a query + history with MMR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/fetch-model.sh all-MiniLM-L6-v2
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
echo "== feedrank index --catalog examples/catalog.csv --out build/examples.store"
./build/feedrank index --catalog examples/catalog.csv --text "{title}. {brand}. {category}" --out build/examples.store
echo "== feedrank rerank --store build/examples.store --input examples/requests.jsonl"
./build/feedrank rerank --store build/examples.store --input examples/requests.jsonl --output build/examples.responses.jsonl
python3 - build/examples.responses.jsonl examples/catalog.csv <<'PY'
import csv, json, sys
titles = {r["id"]: r["title"] for r in csv.DictReader(open(sys.argv[2]))}
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"\n{r['request_id']}:")
    for i in r["items"]:
        print(f"  {i['score']:+.3f}  {i['item_id']}  {titles.get(i['item_id'], '')}")
    for e in r.get("item_errors", []):
        print(f"  (not ranked: {e['item_id']}: {e['code']})")
PY
