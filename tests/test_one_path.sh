#!/usr/bin/env bash
# test_one_path.sh FEEDRANK MODEL_DIR SOURCE_DIR - proof that `bench ab` measures the ranker that
# serves (issue #18): for the cases the harness dumps, requests built from them and run through
# `feedrank rerank --profile P` on a store made by `feedrank index` (and `index --interactions` for
# the log priors) give, case by case, the same ranking and the same NDCG@10 (to 1e-6) as
# `bench ab --b profile:P --ties order`; in feed mode (RecBole, history context, log signals with a
# gate and a cold boost, per-signal normalisations) and in search mode (query, BM25 with tuned k1/b).
# The two sides share no code above the ranker: the store, the priors, the query embedding and the
# request parsing on the served side are the product's own.
set -u
bin=$1; model=$2; src=$3
fx=$src/tests/fixtures/bench
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
py=/usr/bin/python3; [ -x $py ] || py=python3

# compare.py MODE CASES RANKINGS RANKER SERVED_OUT: same order and NDCG@10 per case
cat > "$tmp/compare.py" <<'PY'
import json, math, sys
mode, cases_p, rank_p, ranker, out_p = sys.argv[1:6]
cases = {}
for l in open(cases_p):
    c = json.loads(l); cases[c["case"]] = c
harness = {}
for l in open(rank_p):
    r = json.loads(l); harness[r["case"]] = r["rankings"][ranker]; gmin = r["grade_min"]
served = {}
for l in open(out_p):
    r = json.loads(l); served[r["requestId"]] = [i["itemId"] for i in r["items"]]
assert set(served) == set(harness) == set(cases), (len(served), len(harness), len(cases))
def ndcg10(order, grades):
    gain = lambda g: (2 ** (g - gmin) - 1) if mode == "search" else (1.0 if g > 0 else 0.0)
    dcg = sum(gain(grades[i]) / math.log2(r + 2) for r, i in enumerate(order[:10]))
    ideal = sorted((gain(g) for g in grades.values()), reverse=True)
    idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal[:10]))
    return dcg / idcg if idcg > 0 else 0.0
bad = 0
for k, c in cases.items():
    grades = {i: g for i, g in c["candidates"]}
    if served[k] != harness[k]["order"]:
        bad += 1
        if bad <= 3: print("order differs:", k, served[k][:5], harness[k]["order"][:5], file=sys.stderr)
        continue
    v = ndcg10(served[k], grades)
    if abs(v - harness[k]["ndcg10"]) > 1e-6:
        bad += 1
        if bad <= 3: print("ndcg differs:", k, v, harness[k]["ndcg10"], file=sys.stderr)
print(f"{len(cases) - bad}/{len(cases)} cases equal", file=sys.stderr)
sys.exit(1 if bad or not cases else 0)
PY

# ---- feed mode: Tiny (RecBole), the store indexed from the .item file with one flag. The fixture's
# deliberately malformed rows are left out (the loader's own tests cover them), so that both sides
# read the same histories.
mkdir -p "$tmp/feed"
cp "$fx/Tiny.item" "$tmp/feed/Tiny.item"
$py -c "
import sys
items = {l.split('\t')[0] for l in open('$fx/Tiny.item')}
with open('$tmp/feed/Tiny.test.inter', 'w') as w:
    for i, l in enumerate(open('$fx/Tiny.test.inter')):
        f = l.rstrip('\n').split('\t')
        if i == 0 or (len(f) == 3 and f[2] in items and all(x in items for x in f[1].split())): w.write(l)"
fx_inter=$tmp/feed/Tiny.test.inter
"$bin" tune --model "$model" --cache "$tmp/cache" --bootstrap 10 --dataset recbole --data "$fx_inter" --negatives 20 --seed 3 \
   --out "$tmp/feed.json" > /dev/null 2>&1
check "tune writes a feed profile" '[ -s "$tmp/feed.json" ]'
win=$($py -c "import json; print(json.load(open('$tmp/feed.json'))['tuned']['priors_window'])")
# a second profile using what tune does not choose: per-signal normalisations, an ungated-free gate, a boost
$py -c "
import json; p = json.load(open('$tmp/feed.json'))
p['normalization'] = {'default': 'zscore', 'semantic': 'minmax', 'popularity': 'rank', 'covisitation': 'none'}
p['weights'].update(semantic=0.6, popularity=0.3, covisitation=0.05); p['log_gate'] = 2; p['cold_content_boost'] = 1.5
json.dump(p, open('$tmp/feed-norms.json', 'w'))"
"$bin" index --model "$model" --catalog "$fx/Tiny.item" --format recbole --out "$tmp/tiny.store" > /dev/null 2> "$tmp/err"
check "index --format recbole" '[ $? -eq 0 ] && [ -s "$tmp/tiny.store" ]'
"$bin" index --interactions "$fx_inter" --store "$tmp/tiny.store" --window "$win" > /dev/null 2> "$tmp/err"
check "priors from the histories" '[ $? -eq 0 ]'
for p in feed feed-norms; do
  "$bin" bench ab --model "$model" --cache "$tmp/cache" --bootstrap 10 --dataset recbole --data "$fx_inter" --negatives 20 --seed 3 \
     --ties order --a popularity --b "profile:$tmp/$p.json" --dump-cases "$tmp/$p.cases" --dump-rankings "$tmp/$p.rank" > /dev/null 2> "$tmp/err"
  check "$p: bench ab exit 0" '[ $? -eq 0 ]'
  $py - "$fx_inter" "$tmp/$p.cases" "$tmp/$p.req" <<'PY'
import json, sys
inter, cases, out = sys.argv[1:4]
hist = {}
with open(inter) as f:
    head = f.readline().rstrip("\n").split("\t")
    cu = [i for i, h in enumerate(head) if h.startswith("user_id")][0]
    cl = [i for i, h in enumerate(head) if h.startswith("item_id_list")][0]
    for line in f:
        p = line.rstrip("\n").split("\t")
        if len(p) > cl: hist[p[cu]] = p[cl].split()
with open(out, "w") as w:
    for l in open(cases):
        c = json.loads(l)
        w.write(json.dumps({"request_id": c["case"], "context": {"history": [{"item_id": i} for i in hist[c["case"]]]},
                            "candidates": [{"item_id": i} for i, g in c["candidates"]]}) + "\n")
PY
  "$bin" rerank --model "$model" --store "$tmp/tiny.store" --profile "$tmp/$p.json" --input "$tmp/$p.req" --output "$tmp/$p.out" > /dev/null 2> "$tmp/err"
  check "$p: rerank exit 0" '[ $? -eq 0 ]'
  check "$p: served ranking = harness ranking, case by case (feed)" '$py "$tmp/compare.py" feed "$tmp/$p.cases" "$tmp/$p.rank" "profile:$tmp/$p.json" "$tmp/$p.out"'
done

# ---- search mode: the JSONL search fixture; items indexed from its item lines
grep '"item_id"' "$fx/search.jsonl" | grep -v '"query"' > "$tmp/items.jsonl"
"$bin" index --model "$model" --catalog "$tmp/items.jsonl" --id item_id --text "{text}" --out "$tmp/search.store" > /dev/null 2> "$tmp/err"
check "index the search catalogue" '[ $? -eq 0 ]'
"$bin" tune --model "$model" --cache "$tmp/cache" --bootstrap 10 --dataset jsonl-search --data "$fx/search.jsonl" --seed 3 --out "$tmp/search.json" > /dev/null 2>&1
check "tune writes a search profile with BM25 k1/b" '$py -c "import json; p = json.load(open(\"$tmp/search.json\")); assert \"bm25_k1\" in p and \"bm25_b\" in p"'
$py -c "
import json; p = json.load(open('$tmp/search.json'))
p['normalization'] = {'default': 'zscore', 'lexical': 'rank'}; p['bm25_k1'] = 0.6; p['bm25_b'] = 0.3; p['weights'].update(semantic=0.5, lexical=0.5)
json.dump(p, open('$tmp/search-norms.json', 'w'))"
for p in search search-norms; do
  "$bin" bench ab --model "$model" --cache "$tmp/cache" --bootstrap 10 --dataset jsonl-search --data "$fx/search.jsonl" --seed 3 --distractors 8 \
     --ties order --a bm25 --b "profile:$tmp/$p.json" --dump-cases "$tmp/$p.cases" --dump-rankings "$tmp/$p.rank" > /dev/null 2> "$tmp/err"
  check "$p: bench ab exit 0" '[ $? -eq 0 ]'
  $py -c "
import json
with open('$tmp/$p.req', 'w') as w:
    for l in open('$tmp/$p.cases'):
        c = json.loads(l)
        w.write(json.dumps({'request_id': c['case'], 'context': {'query': c['case']}, 'candidates': [{'item_id': i} for i, g in c['candidates']]}) + '\n')"
  "$bin" rerank --model "$model" --store "$tmp/search.store" --profile "$tmp/$p.json" --input "$tmp/$p.req" --output "$tmp/$p.out" > /dev/null 2> "$tmp/err"
  check "$p: rerank exit 0" '[ $? -eq 0 ]'
  check "$p: served ranking = harness ranking, case by case (search)" '$py "$tmp/compare.py" search "$tmp/$p.cases" "$tmp/$p.rank" "profile:$tmp/$p.json" "$tmp/$p.out"'
done
echo "test_one_path: $pass passed, $fail failed"
[ $fail -eq 0 ]
