#!/usr/bin/env bash
# test_train_cli.sh FEEDRANK MODEL_DIR SOURCE_DIR - `feedrank train` end to end on a tiny synthetic
# log over the example catalogue (users walk the catalogue in order, so the next item is learnable):
# a few seconds of training, the model attached to the store and validated by `store info`, --out and
# --model-out, a run stopped after 2 epochs and resumed from its checkpoint = one run (byte for byte),
# 1 thread = 2 threads, and clear errors for bad inputs (empty and one-event logs, bad flags, a bad
# line, a checkpoint of another run, a corrupt model section).
set -u
bin=$1; model=$2; src=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
export OMP_WAIT_POLICY=passive SOURCE_DATE_EPOCH=1700000000
seqinfo() { "$bin" store info "$1" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['seqmodel']['$2'])"; }
small="--dim 16 --max-len 10 --negatives 16 --batch 32 --seed 3"

"$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --text "{title}. {brand}. {category}" --out "$tmp/ex.store" 2>/dev/null
check "index the example catalogue" '[ $? -eq 0 ]'
python3 - "$tmp/log.jsonl" "$tmp/log.inter" <<'PY'
import random, sys
r = random.Random(3)
ids = ['p%03d' % i for i in range(1, 31)]
with open(sys.argv[1], 'w') as f, open(sys.argv[2], 'w') as g:
    g.write('user_id:token\titem_id:token\ttimestamp:float\n')
    for u in range(200):
        cur, t = r.randrange(30), 1000
        for k in range(r.randint(3, 12)):
            f.write('{"user":"u%d","item":"%s","ts":%d}\n' % (u, ids[cur], t))
            g.write('u%d\t%s\t%d\n' % (u, ids[cur], t))
            t += r.randint(1, 50)
            cur = (cur + r.choice([1, 1, 1, 2])) % 30
    f.write('{"user":"u1","item":"not-in-store","ts":5}\n')
PY

# --- help lists every flag with its default
"$bin" train --help > "$tmp/help"
check "--help exit 0" '[ $? -eq 0 ]'
for flag in --store --interactions --format --out --model-out --epochs --patience --batch --lr --weight-decay --dim --blocks \
            --heads --max-len --dropout --negatives --val-percent --val-negatives --seed --threads --max-bad-lines --checkpoint \
            --epochs-per-run --restart --device; do
  check "--help lists $flag" 'grep -q -- "$flag" "$tmp/help"'
done
check "main usage lists train" '"$bin" --help | grep -q "^  train "'

# --- train and attach to the store (the default), a line per epoch off a terminal
cp "$tmp/ex.store" "$tmp/a.store"
"$bin" train --store "$tmp/a.store" --interactions "$tmp/log.jsonl" --epochs 6 $small 2> "$tmp/err"
check "train exit 0" '[ $? -eq 0 ]'
check "a line per epoch" '[ "$(grep -c "epoch [0-9]/6  loss" "$tmp/err")" = 6 ]'
check "unknown item ids counted" 'grep -q "skipped: 1 events with unknown item ids" "$tmp/err"'
check "model attached and valid" '[ "$(seqinfo "$tmp/a.store" d)" = 16 ] && [ "$(seqinfo "$tmp/a.store" epochs)" = 6 ]'
check "it learned the walk (val NDCG@10 > 0.5)" 'python3 -c "import sys; sys.exit(not float(sys.argv[1]) > 0.5)" "$(seqinfo "$tmp/a.store" val_ndcg10)"'
check "checkpoint removed after success" '[ ! -e "$tmp/a.store.train-checkpoint" ]'
check "store still readable by store info" '"$bin" store info "$tmp/a.store" > /dev/null 2>&1'

# --- --device cuda never falls back to the CPU: without a CUDA build or device it fails naming
# why and writes nothing; with one it trains (the same log, a model file)
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/cuda.model" --epochs 1 --device cuda $small 2> "$tmp/err"
rc=$?
if [ $rc -ne 0 ]; then
  check "--device cuda without CUDA: exit 1, the reason, no model" '[ $rc -eq 1 ] && grep -qi "cuda" "$tmp/err" && [ ! -e "$tmp/cuda.model" ] && ! grep -q "epoch 1/1" "$tmp/err"'
else
  check "--device cuda with CUDA: a model" '[ -s "$tmp/cuda.model" ] && grep -q "training steps on CUDA" "$tmp/err"'
fi
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/x.model" --device tpu $small 2> "$tmp/err"
check "--device tpu refused" '[ $? -eq 2 ] && grep -q "cpu or cuda" "$tmp/err"'

# --- RecBole log, --out into a copy (the input store unchanged)
cp "$tmp/ex.store" "$tmp/b.store"
"$bin" train --store "$tmp/b.store" --interactions "$tmp/log.inter" --out "$tmp/c.store" --epochs 2 $small 2> "$tmp/err"
check "--out exit 0" '[ $? -eq 0 ]'
check "--out leaves --store unchanged" 'cmp -s "$tmp/b.store" "$tmp/ex.store"'
check "--out store has the model" '[ "$(seqinfo "$tmp/c.store" epochs)" = 2 ]'

# --- resume: 2 epochs, stop, resume to 5 = one run of 5 (same bytes); and threads do not matter
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/one.bin" --epochs 5 --patience 9 $small 2>/dev/null
check "single run" '[ $? -eq 0 ] && [ -s "$tmp/one.bin" ]'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/two.bin" --epochs 5 --patience 9 --epochs-per-run 2 $small 2> "$tmp/err"
check "stopped run exit 0, keeps its checkpoint" '[ $? -eq 0 ] && [ -e "$tmp/two.bin.train-checkpoint" ] && [ ! -e "$tmp/two.bin" ] && grep -q "rerun the same command to resume" "$tmp/err"'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/two.bin" --epochs 5 --patience 9 $small 2> "$tmp/err"
check "resumed run exit 0" '[ $? -eq 0 ] && grep -q "resuming from .*after epoch 2" "$tmp/err"'
check "resumed = single run, byte for byte" 'cmp -s "$tmp/one.bin" "$tmp/two.bin"'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/t1.bin" --epochs 2 --threads 1 $small 2>/dev/null
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/t2.bin" --epochs 2 --threads 2 $small 2>/dev/null
check "1 thread = 2 threads" 'cmp -s "$tmp/t1.bin" "$tmp/t2.bin"'

# --- store attach-model: a --model-out file joins its store; another store's model or a non-model is refused
cp "$tmp/ex.store" "$tmp/am.store"
"$bin" store attach-model --store "$tmp/am.store" "$tmp/one.bin" 2> "$tmp/err"
check "attach-model exit 0, the store has the model" '[ $? -eq 0 ] && [ "$(seqinfo "$tmp/am.store" epochs)" = 5 ]'
printf 'id,title\nq1,garden hose\nq2,ceiling fan\n' > "$tmp/other.csv"
"$bin" index --model "$model" --catalog "$tmp/other.csv" --out "$tmp/other.store" 2>/dev/null
cp "$tmp/other.store" "$tmp/other0.store"
"$bin" store attach-model --store "$tmp/other.store" "$tmp/one.bin" 2> "$tmp/err"
check "another store's model refused by name, the store untouched" '[ $? -eq 1 ] && grep -q "one.bin" "$tmp/err" && cmp -s "$tmp/other.store" "$tmp/other0.store"'
"$bin" store attach-model --store "$tmp/am.store" "$tmp/log.jsonl" 2> "$tmp/err"
check "a file that is no model refused" '[ $? -eq 1 ] && grep -q "attach-model: .*log.jsonl" "$tmp/err"'

# --- a checkpoint of another run is refused; --restart discards it
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/r.bin" --epochs 3 --epochs-per-run 1 $small 2>/dev/null
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/r.bin" --epochs 3 $small --lr 0.01 2> "$tmp/err"
check "checkpoint of other settings refused" '[ $? -eq 1 ] && grep -q "checkpoint is of another run" "$tmp/err" && grep -q -- "--restart" "$tmp/err"'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --model-out "$tmp/r.bin" --epochs 1 $small --lr 0.01 --restart 2>/dev/null
check "--restart discards it" '[ $? -eq 0 ] && [ -s "$tmp/r.bin" ]'

# --- a corrupt model section is refused by name
python3 - "$tmp/a.store" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
i = b.find(b'FRSEQM01'); b[i + 2000] ^= 1; open(p, 'wb').write(b)
PY
"$bin" store info "$tmp/a.store" > /dev/null 2> "$tmp/err"
check "bit flip in the model refused" '[ $? -eq 1 ] && grep -q "checksum mismatch" "$tmp/err"'

# --- bad inputs: clear errors
: > "$tmp/empty.jsonl"
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/empty.jsonl" --model-out "$tmp/x.bin" 2> "$tmp/err"
check "empty log: exit 1, says why" '[ $? -eq 1 ] && grep -q "nothing to train on" "$tmp/err" && [ ! -e "$tmp/x.bin" ]'
echo '{"user":"u","item":"p001","ts":1}' > "$tmp/one.jsonl"
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/one.jsonl" --model-out "$tmp/x.bin" 2> "$tmp/err"
check "one-event log: exit 1, says why" '[ $? -eq 1 ] && grep -q "1 event from 1 user" "$tmp/err" && grep -q "at least 2 events" "$tmp/err"'
printf '{"user":"u","item":"p001","ts":1}\nnot json\n' > "$tmp/bad.jsonl"
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/bad.jsonl" --model-out "$tmp/x.bin" 2> "$tmp/err"
check "malformed line named" '[ $? -eq 1 ] && grep -q "bad.jsonl:2: not a JSON object" "$tmp/err"'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/nope.jsonl" 2> "$tmp/err"
check "missing log" '[ $? -eq 1 ] && grep -q "nope.jsonl: cannot open" "$tmp/err"'
"$bin" train --interactions "$tmp/log.jsonl" 2> /dev/null
check "missing --store: exit 2" '[ $? -eq 2 ]'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --dim 16 --heads 3 2> "$tmp/err"
check "heads must divide dim" '[ $? -eq 2 ] && grep -q "must divide" "$tmp/err"'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --dropout 1 2> "$tmp/err"
check "dropout range" '[ $? -eq 2 ] && grep -q "dropout" "$tmp/err"'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --format csv 2> "$tmp/err"
check "bad format" '[ $? -eq 2 ] && grep -q "auto, jsonl or recbole" "$tmp/err"'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --out "$tmp/o.store" --model-out "$tmp/o.bin" 2> "$tmp/err"
check "--out and --model-out exclusive" '[ $? -eq 2 ]'
"$bin" train --store "$tmp/ex.store" --interactions "$tmp/log.jsonl" --bogus 2> "$tmp/err"
check "unknown flag" '[ $? -eq 2 ] && grep -q "unknown option" "$tmp/err"'

echo "test_train_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
