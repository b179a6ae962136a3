#!/usr/bin/env bash
# run_soak.sh [SECONDS] - a bounded soak of `feedrank serve` on loopback: mixed valid and invalid
# requests (unknown ids, empty contexts, too many candidates, unknown arms, oversized queries) from
# 4 closed-loop clients for SECONDS (default 180), sampling the server's RSS every 5 s. Prints the
# load result, RSS at start / end / max, and exits non-zero on a crash or RSS growth > 20%.
set -euo pipefail
secs=${1:-180}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
srv=
trap 'kill $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import json, random, sys
d = sys.argv[1]
r = random.Random(7)
words = "cordless drill light bulb garden hose kitchen sink paint roller ceramic tile ceiling fan smart thermostat".split()
with open(f"{d}/catalog.csv", "w") as f:
    f.write("id,title\n")
    for i in range(2000):
        f.write(f"i{i},{' '.join(r.choice(words) for _ in range(6))}\n")
with open(f"{d}/mix.jsonl", "w") as f:
    for k in range(400):
        kind = k % 10
        q = " ".join(r.choice(words) for _ in range(14))
        cands = [{"item_id": f"i{x}", "upstream_score": r.random()} for x in r.sample(range(2000), 300)]
        req = {"request_id": f"s{k}", "context": {"query": q}, "candidates": cands}
        if kind == 1: req["candidates"].append({"item_id": "nope"})                     # per-item error
        if kind == 2: req["context"] = {"history": [{"item_id": "i1"}, {"item_id": "i2"}]}  # history only
        if kind == 3: req["context"] = {}                                                 # INVALID: empty context
        if kind == 4: req["candidates"] = cands * 3                                       # INVALID: > 600 candidates
        if kind == 5: req["arm"] = "nope"                                                 # INVALID: unknown arm
        if kind == 6: req["context"]["query"] = "x" * 20000                              # INVALID: oversized query
        if kind == 7: req["options"] = {"mmr_lambda": 0.7, "top_k": 20}
        f.write(json.dumps(req) + "\n")
PY
build/feedrank index --catalog "$tmp/catalog.csv" --out "$tmp/soak.store" 2>/dev/null
build/feedrank serve --store "$tmp/soak.store" --listen 127.0.0.1:50098 --max-candidates 600 --log-level 0 > "$tmp/srv.out" 2>&1 &
srv=$!
for _ in $(seq 100); do grep -q listening "$tmp/srv.out" && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' /proc/$srv/status; }
build/load --addr 127.0.0.1:50098 --requests "$tmp/mix.jsonl" --concurrency 4 --duration 10 --warmup 0 > /dev/null  # warm-up
start=$(rss); max=$start
build/load --addr 127.0.0.1:50098 --requests "$tmp/mix.jsonl" --concurrency 4 --duration "$secs" --warmup 0 > "$tmp/load.json" &
lp=$!
while kill -0 $lp 2>/dev/null; do sleep 5; r=$(rss); [ "$r" -gt "$max" ] && max=$r; done
wait $lp
end=$(rss)
alive=yes; kill -0 $srv 2>/dev/null || alive=no
kill -TERM $srv; wait $srv; rc=$?
echo "{\"seconds\":$secs,\"load\":$(cat "$tmp/load.json"),\"rss_kb_start\":$start,\"rss_kb_end\":$end,\"rss_kb_max\":$max,\"alive\":\"$alive\",\"exit\":$rc}"
[ "$alive" = yes ] && [ $rc -eq 0 ] && [ "$end" -le $((start * 120 / 100)) ]
