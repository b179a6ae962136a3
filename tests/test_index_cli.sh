#!/usr/bin/env bash
# test_index_cli.sh FEEDRANK MODEL_DIR SOURCE_DIR - `feedrank index`, `store` and `rerank` end to
# end: resumption after SIGINT and a torn journal (same store as an uninterrupted run), shards +
# merge, bad catalogue rows, batch re-ranking with per-line errors, and log priors (index
# --interactions): shards, a build stopped by a bad line and resumed from its checkpoint = one pass.
set -u
bin=$1; model=$2; src=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
info() { "$bin" store info "$1" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

# --- index the example catalogue (CSV) and a JSONL one
"$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --text "{title}. {brand}. {category}" --out "$tmp/ex.store" 2> "$tmp/err"
check "index csv exit 0" '[ $? -eq 0 ]'
check "index reports 30 items" 'grep -q "wrote .*ex.store: 30 items" "$tmp/err"'
check "store info count" '[ "$(info "$tmp/ex.store" items)" = 30 ]'
check "journal removed after success" '[ ! -e "$tmp/ex.store.journal" ]'
printf '{"sku":"a1","name":"Lamp"}\n{"sku":"a2","name":"Desk"}\n' > "$tmp/cat.jsonl"
"$bin" index --model "$model" --catalog "$tmp/cat.jsonl" --id sku --text "{name}" --out "$tmp/j.store" --dtype f16 2>/dev/null
check "index jsonl f16" '[ "$(info "$tmp/j.store" items)" = 2 ] && [ "$(info "$tmp/j.store" dtype)" = f16 ]'

# --- errors: missing column, missing id column, bad rows skipped or fatal with --strict
"$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --text "{nope}" --out "$tmp/x.store" 2> "$tmp/err"
check "unknown template column exit 2" '[ $? -eq 2 ] && grep -q "no column .nope." "$tmp/err"'
"$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --id sku --out "$tmp/x.store" 2> "$tmp/err"
check "unknown id column exit 2" '[ $? -eq 2 ] && grep -q "no column .sku." "$tmp/err"'
printf 'id,title\nk1,one\nk2,"broken"x\nk3,three\n,empty id\nk1,dup\n' > "$tmp/bad.csv"
"$bin" index --model "$model" --catalog "$tmp/bad.csv" --out "$tmp/bad.store" 2> "$tmp/err"
check "bad rows skipped, exit 0" '[ $? -eq 0 ] && [ "$(info "$tmp/bad.store" items)" = 2 ]'
check "bad row named with line number" 'grep -q "bad.csv:3: text after a closing quote" "$tmp/err" && grep -q "bad.csv:5: id field .id. is empty" "$tmp/err"'
check "duplicate id reported" 'grep -q "duplicate id .k1." "$tmp/err"'
"$bin" index --model "$model" --catalog "$tmp/bad.csv" --out "$tmp/bad2.store" --strict 2> "$tmp/err"
check "--strict stops at the bad row" '[ $? -eq 1 ] && [ ! -e "$tmp/bad2.store" ]'

# --- resume after SIGINT and a torn journal gives the same store as one clean run
python3 -c "
import random
r = random.Random(5)
words = 'drill lamp hose sink paint roller tile fan bulb cable game controller headset chair desk'.split()
print('id,title')
for i in range(1200): print(f'r{i},' + ' '.join(r.choice(words) for _ in range(r.randint(3, 9))))
" > "$tmp/big.csv"
"$bin" index --model "$model" --catalog "$tmp/big.csv" --out "$tmp/clean.store" --batch 16 2>/dev/null
"$bin" index --model "$model" --catalog "$tmp/big.csv" --out "$tmp/res.store" --batch 16 2> "$tmp/err1" &
pid=$!
# interrupt once some batches are journaled (up to 60 s: sanitizer builds and loaded machines are slow)
for _ in $(seq 1200); do
  [ -f "$tmp/res.store.journal" ] && [ "$(stat -c %s "$tmp/res.store.journal")" -gt 300000 ] && break
  sleep 0.05
done
kill -INT $pid; wait $pid; st=$?
check "SIGINT exits 130" '[ $st -eq 130 ] && grep -q "rerun the same command to resume" "$tmp/err1"'
check "journal kept, no store yet" '[ -s "$tmp/res.store.journal" ] && [ ! -e "$tmp/res.store" ]'
printf 'torn-record-garbage' >> "$tmp/res.store.journal"
"$bin" index --model "$model" --catalog "$tmp/big.csv" --out "$tmp/res.store" --text "{id}" --batch 16 2> "$tmp/err2"
check "other settings refuse the journal" '[ $? -eq 1 ] && grep -q -- "--restart" "$tmp/err2"'
"$bin" index --model "$model" --catalog "$tmp/big.csv" --out "$tmp/res.store" --batch 16 2> "$tmp/err2"
check "resume exit 0" '[ $? -eq 0 ] && grep -q "resuming: [0-9]* items already embedded" "$tmp/err2"'
check "resumed store == clean store" '[ "$(info "$tmp/res.store" store_version)" = "$(info "$tmp/clean.store" store_version)" ] && [ "$(info "$tmp/res.store" items)" = 1200 ]'

# --- shards + merge
"$bin" index --model "$model" --catalog "$tmp/big.csv" --out "$tmp/s0.store" --shard 0/2 2>/dev/null
"$bin" index --model "$model" --catalog "$tmp/big.csv" --out "$tmp/s1.store" --shard 1/2 2>/dev/null
check "shards split the rows" '[ "$(info "$tmp/s0.store" items)" = 600 ] && [ "$(info "$tmp/s1.store" items)" = 600 ]'
"$bin" store merge --out "$tmp/m.store" "$tmp/s0.store" "$tmp/s1.store" 2>/dev/null
check "merge = 1200 items" '[ $? -eq 0 ] && [ "$(info "$tmp/m.store" items)" = 1200 ]'
"$bin" store merge --out "$tmp/m2.store" "$tmp/s0.store" "$tmp/s0.store" 2> "$tmp/err"
check "merging a shard twice fails" '[ $? -eq 1 ] && grep -q "duplicate id" "$tmp/err"'
"$bin" index --model "$model" --catalog "$tmp/big.csv" --out "$tmp/x.store" --shard 2/2 2> "$tmp/err"
check "bad shard exit 2" '[ $? -eq 2 ]'

# --- rerank: good lines answered in order, bad lines to the error file with their numbers
cp "$src/examples/requests.jsonl" "$tmp/req.jsonl"
cat >> "$tmp/req.jsonl" <<'J'
{"request_id":"bad-json",
{"request_id":"bad-field","context":{"query":"x"},"candidates":[{"item_id":"p001"}],"options":{"topk":1}}
{"request_id":"bad-score","context":{"query":"x"},"candidates":[{"item_id":"p001","upstream_score":1e999}]}

{"request_id":"no-context","candidates":[{"item_id":"p001"}]}
{"request_id":"empty","context":{"query":"drill"},"candidates":[]}
J
"$bin" rerank --model "$model" --store "$tmp/ex.store" --input "$tmp/req.jsonl" --output "$tmp/out.jsonl" --errors "$tmp/errs.jsonl" 2> "$tmp/err"
check "rerank exit 0 despite bad lines" '[ $? -eq 0 ]'
check "4 responses in input order" '[ "$(python3 -c "import json; print(\",\".join(json.loads(l)[\"requestId\"] for l in open(\"$tmp/out.jsonl\")))")" = "search-1,feed-1,mixed-1,empty" ]'
check "4 error lines" '[ $(wc -l < "$tmp/errs.jsonl") -eq 4 ]'
check "error line numbers" 'python3 -c "
import json
e = {d[\"line\"]: d for d in map(json.loads, open(\"$tmp/errs.jsonl\"))}
assert sorted(e) == [4, 5, 6, 8], sorted(e)
assert \"not valid JSON\" in e[4][\"error\"]
assert \"unknown field options.topk\" in e[5][\"error\"] and e[5][\"request_id\"] == \"bad-field\"
assert \"candidates[0].upstream_score is infinite\" in e[6][\"error\"]
assert \"empty context\" in e[8][\"error\"]
"'
check "search ranks drills first" 'python3 -c "
import json
r = json.loads(open(\"$tmp/out.jsonl\").readline())
assert sorted(i[\"itemId\"] for i in r[\"items\"][:2]) == [\"p001\", \"p004\"], r
assert len(r[\"items\"]) == 4 and r[\"model\"] == \"all-MiniLM-L6-v2\"
"'
check "unknown candidate reported" 'grep -q "\"code\":\"UNKNOWN_ITEM\"" "$tmp/out.jsonl"'
"$bin" rerank --model "$model" --store "$tmp/ex.store" --input "$tmp/req.jsonl" --shard 1/2 --errors /dev/null 2>/dev/null > "$tmp/sh.jsonl"
check "rerank --shard 1/2 takes even lines" '[ "$(python3 -c "import json; print(\",\".join(json.loads(l)[\"requestId\"] for l in open(\"$tmp/sh.jsonl\")))")" = "feed-1" ]'
# a candidate the store does not know, sent with its text, is ranked and marked (issue "live catalogue", part 1)
cat > "$tmp/text.jsonl" <<'J'
{"request_id":"t1","context":{"query":"cordless drill"},"candidates":[{"item_id":"p003"},{"item_id":"fresh","text":"Cordless Drill Driver Kit, 20V, 2 batteries"},{"item_id":"gone"}]}
J
"$bin" rerank --model "$model" --store "$tmp/ex.store" --input "$tmp/text.jsonl" > "$tmp/text.out" 2>/dev/null
check "text candidate ranked first and marked from_text; one without text stays unknown" 'python3 -c "
import json
r = json.loads(open(\"$tmp/text.out\").readline())
assert [i[\"itemId\"] for i in r[\"items\"]] == [\"fresh\", \"p003\"] and r[\"items\"][0].get(\"fromText\") is True, r
assert \"fromText\" not in r[\"items\"][1] and [e[\"itemId\"] for e in r[\"itemErrors\"]] == [\"gone\"], r
"'
"$bin" rerank --model "$src/tests/fixtures/tiny-bge" --store "$tmp/ex.store" < /dev/null > /dev/null 2> "$tmp/err"
check "store from another model refused" '[ $? -eq 1 ] && grep -q "built by model .all-MiniLM-L6-v2." "$tmp/err"'
"$bin" rerank --model "$model" --store "$tmp/nope.store" < /dev/null > /dev/null 2> "$tmp/err"
check "missing store exit 1" '[ $? -eq 1 ] && grep -q "nope.store: cannot open" "$tmp/err"'
head -c 1000 "$tmp/ex.store" > "$tmp/trunc.store"
"$bin" rerank --model "$model" --store "$tmp/trunc.store" < /dev/null > /dev/null 2> "$tmp/err"
check "truncated store exit 1" '[ $? -eq 1 ] && grep -q "trunc.store" "$tmp/err"'

# --- log priors: a build stopped after checkpoints resumes to the same priors as one clean pass
python3 -c "
import csv, random
ids = [r['id'] for r in csv.DictReader(open('$src/examples/catalog.csv'))]
r = random.Random(9)
with open('$tmp/log.jsonl', 'w') as f:
    for k in range(400):
        f.write('{\"user\": \"u%d\", \"item\": \"%s\", \"ts\": %d}\n' % (r.randrange(40), r.choice(ids + ['unknown-id']), 1000 + k))
"
cp "$tmp/ex.store" "$tmp/pr.store"
"$bin" index --interactions "$tmp/log.jsonl" --store "$tmp/pr.store" --shard 0/2 --priors-out "$tmp/clean.part" --checkpoint-every 25 2> "$tmp/err"
check "priors shard build exit 0, no checkpoint left" '[ $? -eq 0 ] && [ -s "$tmp/clean.part" ] && [ ! -e "$tmp/clean.part.priors-checkpoint" ]'
python3 -c "
lines = open('$tmp/log.jsonl').readlines(); lines[300] = 'not json\n'
open('$tmp/broken.jsonl', 'w').writelines(lines)"
"$bin" index --interactions "$tmp/broken.jsonl" --store "$tmp/pr.store" --shard 0/2 --priors-out "$tmp/res.part" --checkpoint-every 25 2> "$tmp/err"
check "a bad line stops the build, naming it, and keeps the checkpoint" '[ $? -eq 1 ] && grep -q "broken.jsonl:301" "$tmp/err" && grep -q "kept in" "$tmp/err" && [ -s "$tmp/res.part.priors-checkpoint" ] && [ ! -e "$tmp/res.part" ]'
cp "$tmp/log.jsonl" "$tmp/broken.jsonl"   # the line fixed; the prefix is unchanged
"$bin" index --interactions "$tmp/broken.jsonl" --store "$tmp/pr.store" --shard 0/2 --priors-out "$tmp/res.part" --checkpoint-every 25 2> "$tmp/err"
check "rerun resumes from the checkpoint" '[ $? -eq 0 ] && grep -q "resuming from .*: 300 lines" "$tmp/err" && [ ! -e "$tmp/res.part.priors-checkpoint" ]'
check "resumed priors = one clean pass (byte for byte)" 'cmp -s "$tmp/clean.part" "$tmp/res.part"'
python3 -c "
lines = open('$tmp/log.jsonl').readlines(); lines[350] = 'not json\n'
open('$tmp/broken.jsonl', 'w').writelines(lines)"
"$bin" index --interactions "$tmp/broken.jsonl" --store "$tmp/pr.store" --shard 0/2 --priors-out "$tmp/res2.part" --checkpoint-every 25 2> /dev/null
sed -i '1s/u/v/' "$tmp/broken.jsonl"
"$bin" index --interactions "$tmp/broken.jsonl" --store "$tmp/pr.store" --shard 0/2 --priors-out "$tmp/res2.part" --checkpoint-every 25 2> "$tmp/err"
check "a log changed under a checkpoint is refused" '[ $? -eq 1 ] && grep -q "the log changed since the checkpoint" "$tmp/err" && grep -q -- "--restart" "$tmp/err"'
"$bin" index --interactions "$tmp/broken.jsonl" --store "$tmp/pr.store" --shard 0/2 --priors-out "$tmp/res2.part" --checkpoint-every 25 --restart --max-bad-lines 5 2> "$tmp/err"
check "--restart starts over" '[ $? -eq 0 ] && ! grep -q "resuming" "$tmp/err" && [ -s "$tmp/res2.part" ]'
head -c 300 "$tmp/clean.part" > "$tmp/res3.part.priors-checkpoint"
"$bin" index --interactions "$tmp/log.jsonl" --store "$tmp/pr.store" --shard 0/2 --priors-out "$tmp/res3.part" 2> "$tmp/err"
check "a corrupt checkpoint is refused with its name" '[ $? -eq 1 ] && grep -q "res3.part.priors-checkpoint: priors checkpoint" "$tmp/err"'
"$bin" index --interactions - --store "$tmp/pr.store" --checkpoint "$tmp/x.ckpt" < "$tmp/log.jsonl" 2> "$tmp/err"
check "no checkpoints from standard input" '[ $? -eq 1 ] && grep -q "needs a log file" "$tmp/err"'
"$bin" index --interactions "$tmp/log.jsonl" --store "$tmp/pr.store" 2> "$tmp/err"
check "priors attached to the store" '[ $? -eq 0 ] && "$bin" store info "$tmp/pr.store" 2>/dev/null | grep -q priors'
echo "test_index_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
