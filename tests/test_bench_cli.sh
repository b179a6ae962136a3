#!/usr/bin/env bash
# test_bench_cli.sh FEEDRANK MODEL_DIR SOURCE_DIR - `feedrank bench ab` end to end on small
# fixtures in each dataset format: reports (Markdown, JSON, plots), slate mode, negative sampling
# that never draws history or target, determinism with a seed, and clear errors.
set -u
bin=$1; model=$2; src=$3
fx=$src/tests/fixtures/bench
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
ab() { "$bin" bench ab --model "$model" --cache "$tmp/cache" --bootstrap 200 "$@"; }

# search mode: Home Depot format, every search ranker, report files
ab --dataset homedepot --data "$fx/homedepot.csv" --a random --b bm25 --b embed --b "blend(embed,bm25)" --b "rrf(embed,bm25)" \
   --b order --out "$tmp/hd" > "$tmp/hd.md" 2> "$tmp/err"
check "search run exit 0" '[ $? -eq 0 ]'
check "report sections" 'grep -q "## report half" "$tmp/hd.md" && grep -q "## all cases" "$tmp/hd.md" && grep -q "headroom closed" "$tmp/hd.md"'
check "every ranker reported" 'for r in "A: random" "B: bm25" "B: embed" "B: blend(embed,bm25)" "B: rrf(embed,bm25)" "B: order"; do grep -qF "| $r |" "$tmp/hd.md" || exit 1; done'
check "bm25 tuned on the tuning half" 'grep -q "| B: bm25 | k1 [0-9.]*, b [0-9.]* |" "$tmp/hd.md"'
check "blend weights tuned" 'grep -q "weights embed [0-9.]*, bm25 [0-9.]* (tuned)" "$tmp/hd.md"'
check "report.json parses" 'python3 -c "
import json; r = json.load(open(\"$tmp/hd/report.json\"))
assert r[\"cases\"] > 0 and any(x[\"ranker\"] == \"embed\" and x[\"metric\"] == \"NDCG@10\" for x in r[\"rankers\"])
assert all(x[\"lo\"] <= x[\"mean\"] <= x[\"hi\"] for x in r[\"rankers\"])"'
if command -v gnuplot > /dev/null; then
  check "plots written (png + svg), one difference plot per B ranker" 'for i in 1 2 3 4 5; do [ -s "$tmp/hd/diff$i.png" ] && [ -s "$tmp/hd/diff$i.svg" ] || exit 1; done; [ -s "$tmp/hd/ndcg10.png" ] && [ -s "$tmp/hd/ndcg10.svg" ]'
  check "plot labels as plain text (noenhanced) and axes from 0" 'grep -q "noenhanced" "$tmp/hd/plots.gp" && grep -q "set yrange \[0:1\]" "$tmp/hd/plots.gp"'
fi
check "report.json: every B-vs-A comparison, per slice" 'python3 -c "
import json; r = json.load(open(\"$tmp/hd/report.json\"))
c = [x for x in r[\"comparisons\"] if x[\"slice\"] == \"all cases\"]
assert [x[\"b\"] for x in c] == [\"bm25\", \"embed\", \"blend(embed,bm25)\", \"rrf(embed,bm25)\", \"order\"], c
assert all(x[\"diff_lo\"] <= x[\"diff\"] <= x[\"diff_hi\"] and x[\"win\"] + x[\"tie\"] + x[\"loss\"] == r[\"cases\"] for x in c)
assert r[\"cases_most\"][\"helps\"] and r[\"tuned\"][\"bm25\"] and \"seconds\" in r"'
check "the recorded command is shell-quoted: it parses back to the arguments" 'python3 -c "
import json, shlex; r = json.load(open(\"$tmp/hd/report.json\"))
a = shlex.split(r[\"command\"])
assert a[a.index(\"--b\", a.index(\"embed\")) + 1] == \"blend(embed,bm25)\", a"'
check "embedding cache used on the second run" 'ab --dataset homedepot --data "$fx/homedepot.csv" --a random --b embed 2>&1 >/dev/null | grep -q "from cache"'

# slate mode: judged + N distractors graded irrelevant, shuffled, never a judged item twice
ab --dataset homedepot --data "$fx/homedepot.csv" --a bm25 --b embed --dump-cases "$tmp/plain.jsonl" > /dev/null 2>&1
ab --dataset homedepot --data "$fx/homedepot.csv" --a bm25 --b embed --distractors 5 --dump-cases "$tmp/slate.jsonl" > /dev/null 2>&1
check "slate cases" 'python3 -c "
import json
plain = {json.loads(l)[\"case\"]: json.loads(l)[\"candidates\"] for l in open(\"$tmp/plain.jsonl\")}
moved = 0
for line in open(\"$tmp/slate.jsonl\"):
    c = json.loads(line); cands = c[\"candidates\"]; ids = [x[0] for x in cands]
    judged = plain[c[\"case\"]]
    assert len(ids) == len(set(ids)) == len(judged) + 5, c
    assert sorted(map(tuple, judged)) == sorted(tuple(x) for x in cands if x[0] in {j[0] for j in judged})
    assert all(x[1] == 1 for x in cands if x[0] not in {j[0] for j in judged})
    moved += [x[0] for x in cands[:len(judged)]] != [j[0] for j in judged]
assert moved > 0, \"slates are not shuffled\""'

# feed mode: RecBole format; negatives never in the history or the target
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b covis --b embed --b "blend(embed,popularity,logcovis)" \
   --negatives 20 --seed 3 --dump-cases "$tmp/feed.jsonl" --out "$tmp/feed" > "$tmp/feed.md" 2> "$tmp/err"
check "feed run exit 0" '[ $? -eq 0 ] && grep -q "## cold-start slice" "$tmp/feed.md" && grep -q "HR@10" "$tmp/feed.md"'
check "negatives avoid history and target" 'python3 -c "
import json
hist, tgt = {}, {}
for i, line in enumerate(open(\"$fx/Tiny.test.inter\")):
    f = line.rstrip(\"\n\").split(\"\t\")
    if i == 0 or len(f) < 3: continue
    hist[f[0]] = set(f[1].split()); tgt[f[0]] = f[2]
n = 0
for line in open(\"$tmp/feed.jsonl\"):
    c = json.loads(line); u = c[\"case\"]; cands = c[\"candidates\"]
    pos = [x for x in cands if x[1] == 1]
    assert pos == [[tgt[u], 1]], c
    negs = [x[0] for x in cands if x[1] == 0]
    assert len(cands) == 21 and len(negs) == 20 and len(set(negs)) == 20
    assert not (set(negs) & hist[u]) and tgt[u] not in negs, u
    n += 1
assert n == 81, n
"'
check "target not always first" 'python3 -c "
import json
firsts = [json.loads(l)[\"candidates\"][0][1] for l in open(\"$tmp/feed.jsonl\")]
assert sum(firsts) < len(firsts) / 2, sum(firsts)"'
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b covis --negatives 20 --seed 3 --out "$tmp/feed2" > /dev/null 2>&1
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b covis --negatives 20 --seed 3 --out "$tmp/feed3" > /dev/null 2>&1
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b covis --negatives 20 --seed 4 --out "$tmp/feed4" > /dev/null 2>&1
same() { python3 -c "
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
a.pop('command'); b.pop('command'); a.pop('seconds'); b.pop('seconds')
sys.exit(0 if a == b else 1)" "$1" "$2"; }
check "same seed, same results" 'same "$tmp/feed2/report.json" "$tmp/feed3/report.json"'
check "another seed, other samples" '! same "$tmp/feed2/report.json" "$tmp/feed4/report.json"'
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b random --negatives 20 --sampler popularity > /dev/null 2>&1
check "popularity sampler" '[ $? -eq 0 ]'

# WANDS and JSONL formats
ab --dataset wands --data "$fx/wands" --a bm25 --b embed > /dev/null 2>&1
check "wands run" '[ $? -eq 0 ]'
ab --dataset jsonl-search --data "$fx/search.jsonl" --a bm25 --b embed > /dev/null 2>&1
check "jsonl-search run" '[ $? -eq 0 ]'
ab --dataset jsonl-feed --data "$fx/feed.jsonl" --a popularity --b embed --negatives 10 > /dev/null 2>&1
check "jsonl-feed run" '[ $? -eq 0 ]'

# tune: a ranking profile from the tuning half, deterministic with a seed, loadable by bench ab
tune() { "$bin" tune --model "$model" --cache "$tmp/cache" --bootstrap 100 "$@"; }
tune --dataset recbole --data "$fx/Tiny.test.inter" --negatives 20 --seed 3 --out "$tmp/p1.json" > /dev/null 2> "$tmp/err"
check "tune exit 0 and a report" '[ $? -eq 0 ] && [ -s "$tmp/p1.json" ] && grep -q "gblend(embed,popularity,logcovis)" "$tmp/p1.json.report/report.md"'
tune --dataset recbole --data "$fx/Tiny.test.inter" --negatives 20 --seed 3 --out "$tmp/p2.json" --report "$tmp/r2" > /dev/null 2>&1
check "tune is deterministic for a seed" 'cmp -s "$tmp/p1.json" "$tmp/p2.json"'
check "report slices: warm targets and the held-out cold-start cases" 'grep -q "^## warm targets" "$tmp/r2/report.md" && grep -q "^## cold-start slice, report half" "$tmp/r2/report.md"'
tune --dataset recbole --data "$fx/Tiny.test.inter" --negatives 20 --seed 3 --out "$tmp/p4.json" --frontier "$tmp/front.tsv" > /dev/null 2>&1
check "--frontier does not change the choice" '[ $? -eq 0 ] && cmp -s "$tmp/p1.json" "$tmp/p4.json"'
check "--frontier: every grid setting; the chosen one is the tuning-half best and its report half matches the report" 'python3 -c "
import json
p = json.load(open(\"$tmp/p1.json\"))
lines = open(\"$tmp/front.tsv\").read().splitlines()
assert lines[0] == \"# gblend(embed,popularity,logcovis)\", lines[0]
head = lines[1].split(chr(9))
rows = [dict(zip(head, map(float, l.split(chr(9))))) for l in lines[2:]]
assert len(rows) == 8 * 9 * 66, len(rows)  # gates x boosts x 0.1-simplex of 3 weights
best = max(r[\"tune_ndcg10\"] for r in rows)
w = p[\"weights\"]
row = [r for r in rows if r[\"gate\"] == p[\"log_gate\"] and r[\"cold_boost\"] == p[\"cold_content_boost\"] and
       abs(r[\"w_embed\"] - w[\"semantic\"]) < 1e-6 and abs(r[\"w_popularity\"] - w[\"popularity\"]) < 1e-6 and
       abs(r[\"w_logcovis\"] - w[\"covisitation\"]) < 1e-6]
assert len(row) == 1, row
assert row[0][\"tune_ndcg10\"] == best, (row, best)
assert abs(row[0][\"report_ndcg10\"] - p[\"tuned\"][\"report_half_ndcg10\"]) < 1e-9, (row, p[\"tuned\"])
assert abs(row[0][\"report_cold_ndcg10\"] - p[\"tuned\"][\"cold_slice_report_half_ndcg10\"]) < 1e-9, (row, p[\"tuned\"])
"'
tune --dataset recbole --data "$fx/Tiny.test.inter" --negatives 20 --seed 3 --min-cold 1 --out "$tmp/p3.json" > /dev/null 2> "$tmp/err3"
check "an unreachable --min-cold warns and keeps the best cold setting" '[ $? -eq 0 ] && grep -q "no setting reaches --min-cold 1" "$tmp/err3" && grep -q "\"min_cold\": 1" "$tmp/p3.json"'
check "profile names every signal and its provenance" 'python3 -c "
import json; p = json.load(open(\"$tmp/p1.json\"))
assert p[\"feedrank_profile\"] == 1 and set(p[\"weights\"]) == {\"semantic\", \"upstream\", \"popularity\", \"covisitation\", \"lexical\"}
assert p[\"tuned\"][\"dataset\"] == \"recbole\" and \"report_half_ndcg10\" in p[\"tuned\"] and \"cold_slice_ndcg10\" in p[\"tuned\"]
assert p[\"tuned\"][\"priors_window\"] in (3, 5, 10) and p[\"covisitation_half_life\"] > 0"'
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b "profile:$tmp/p1.json" --b "gblend(embed,popularity,logcovis)" \
   --negatives 20 --seed 3 --out "$tmp/prof" > "$tmp/prof.md" 2> "$tmp/err"
check "bench ab --b profile:FILE, measured as written" '[ $? -eq 0 ] && grep -qF "| B: profile:$tmp/p1.json | as written, not re-tuned" "$tmp/prof.md"'
check "the saved profile scores what tuning reported (same options, same ranker)" 'python3 -c "
import json; r = json.load(open(\"$tmp/prof/report.json\"))
m = {x[\"ranker\"]: x[\"mean\"] for x in r[\"rankers\"] if x[\"slice\"] == \"all cases\" and x[\"metric\"] == \"NDCG@10\"}
p = json.load(open(\"$tmp/p1.json\"))
assert abs(m[\"profile:$tmp/p1.json\"] - p[\"tuned\"][\"all_ndcg10\"]) < 1e-4, (m, p[\"tuned\"])"'
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b "blend(embed,covis)" > /dev/null 2> "$tmp/err"
check "a blend of the harness-only covis is refused, naming logcovis" '[ $? -eq 2 ] && grep -q "the served one is logcovis" "$tmp/err"'
python3 -c "
import json; p = json.load(open('$tmp/p1.json')); p['normalization'] = {'default': 'zscore', 'popularity': 'rank'}
json.dump(p, open('$tmp/rankpop.json', 'w'))"
ab --dataset recbole --data "$fx/Tiny.test.inter" --a "profile:$tmp/p1.json" --b "profile:$tmp/rankpop.json" --negatives 20 --seed 3 \
   --out "$tmp/rankpop" > /dev/null 2> "$tmp/err"
check "a profile normalising a signal by rank is measured as written (the ranker's normalisation)" '[ $? -eq 0 ] && python3 -c "
import json; r = json.load(open(\"$tmp/rankpop/report.json\"))
m = {x[\"ranker\"]: x[\"mean\"] for x in r[\"rankers\"] if x[\"slice\"] == \"all cases\" and x[\"metric\"] == \"NDCG@10\"}
assert len(m) == 2 and all(0 < v <= 1 for v in m.values()), m"'
echo '{"feedrank_profile": 1, "weights": {"semantic": 1}}' > "$tmp/bad.json"
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b "profile:$tmp/bad.json" > /dev/null 2> "$tmp/err"
check "a bad profile is refused, naming the key" '[ $? -eq 2 ] && grep -q "weights.upstream" "$tmp/err"'

# sized buffers: cases of 20,000 negatives (the harness once held 8,192 per case on the stack)
python3 -c "
import json
with open('$tmp/big.jsonl', 'w') as f:
    for i in range(20100): f.write(json.dumps({'item_id': 'i%d' % i, 'text': 'item %d' % i}) + '\n')
    for u in range(6): f.write(json.dumps({'user_id': 'u%d' % u, 'history': ['i%d' % (u * 7 + j) for j in range(5)], 'target': 'i%d' % (100 + u)}) + '\n')"
ab --dataset jsonl-feed --data "$tmp/big.jsonl" --a popularity --b random --negatives 20000 --dump-cases "$tmp/big.cases" > /dev/null 2> "$tmp/err"
check "20,000 negatives per case" '[ $? -eq 0 ] && python3 -c "
import json; n = [len(json.loads(l)[\"candidates\"]) for l in open(\"$tmp/big.cases\")]
assert n == [20001] * 6, n"'
ab --dataset jsonl-feed --data "$tmp/big.jsonl" --a popularity --b embed --negatives 20 --limit 2 > /dev/null 2> "$tmp/err"
check "--limit embeds only the items its cases use" '[ $? -eq 0 ] && grep -q "limit: [0-9]* of 20100 items embedded" "$tmp/err" && ! grep -q "embedding 20100" "$tmp/err"'

# errors
ab --dataset homedepot --data "$fx/homedepot.csv" --a random --b magic > /dev/null 2> "$tmp/err"
check "unknown ranker exit 2" '[ $? -eq 2 ] && grep -q "unknown ranker .magic." "$tmp/err"'
ab --dataset recbole --data "$fx/Tiny.test.inter" --a popularity --b bm25 > /dev/null 2> "$tmp/err"
check "bm25 on a feed dataset exit 2" '[ $? -eq 2 ] && grep -q "needs a search dataset" "$tmp/err"'
ab --dataset homedepot --data "$fx/homedepot.csv" --a random > /dev/null 2> "$tmp/err"
check "missing --b exit 2" '[ $? -eq 2 ]'
ab --dataset homedepot --data "$tmp/none.csv" --a random --b bm25 > /dev/null 2> "$tmp/err"
check "missing data exit 1" '[ $? -eq 1 ] && grep -q "none.csv: cannot open" "$tmp/err"'
ab --dataset homedepot --data "$fx/homedepot.csv" --a "blend(embed)" --b bm25 > /dev/null 2> "$tmp/err"
check "one-part blend exit 2" '[ $? -eq 2 ] && grep -q "needs >= 2 parts" "$tmp/err"'
echo "test_bench_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
