#!/usr/bin/env bash
# test_cli.sh FEEDRANK MODEL_DIR - the `feedrank embed` command: formats, stdin/pipes, prefixes,
# the over-long-text policy and clear errors for bad input.
set -u
bin=$1; model=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }

printf 'cordless drill\nLED bulb 60W\n\nCafé crème\n' > "$tmp/in.txt"
"$bin" embed --model "$model" --input "$tmp/in.txt" > "$tmp/out.jsonl" 2> "$tmp/err"
check "jsonl exit 0" '[ $? -eq 0 ]'
check "jsonl has 4 lines (empty line kept)" '[ $(wc -l < "$tmp/out.jsonl") -eq 4 ]'
check "jsonl rows have 384 numbers" '[ $(head -1 "$tmp/out.jsonl" | tr "," "\n" | wc -l) -eq 384 ]'
check "stderr reports counts" 'grep -q "4 texts embedded, 0 truncated" "$tmp/err"'
python3 - "$tmp/out.jsonl" <<'PY' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: jsonl vectors are unit length" >&2; }
import json, math, sys
for line in open(sys.argv[1]):
    v = json.loads(line)
    assert len(v) == 384 and abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5
PY
# npy to a file and to a pipe give the same bytes
"$bin" embed --model "$model" --input "$tmp/in.txt" --format npy --output "$tmp/a.npy" 2>/dev/null
"$bin" embed --model "$model" --format npy < "$tmp/in.txt" 2>/dev/null | cat > "$tmp/b.npy"
check "npy file == npy pipe" 'cmp -s "$tmp/a.npy" "$tmp/b.npy"'
check "npy size = 128 + 4*384*4" '[ $(stat -c %s "$tmp/a.npy") -eq $((128 + 4*384*4)) ]'
check "npy header shape" 'head -c 128 "$tmp/a.npy" | grep -q "(4, 384)"'
python3 - "$tmp/a.npy" "$tmp/out.jsonl" <<'PY' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: npy equals jsonl" >&2; }
import json, struct, sys
raw = open(sys.argv[1], "rb").read()[128:]
rows = [json.loads(l) for l in open(sys.argv[2])]
vals = struct.unpack("<%df" % (len(raw) // 4), raw)
assert all(abs(vals[i * 384 + d] - rows[i][d]) < 1e-6 for i in range(4) for d in range(384))
PY
# query prefix changes the vector (a flag for models without prompts)
echo "drill" | "$bin" embed --model "$model" 2>/dev/null > "$tmp/p.jsonl"
echo "drill" | "$bin" embed --model "$model" --query --query-prefix "query: " 2>/dev/null > "$tmp/q.jsonl"
check "query prefix applied" '! cmp -s "$tmp/p.jsonl" "$tmp/q.jsonl"'
# over-long texts: truncated and counted by default, an error with the line number on request
python3 -c "print('short'); print('word ' * 600)" > "$tmp/long.txt"
"$bin" embed --model "$model" --input "$tmp/long.txt" > /dev/null 2> "$tmp/err"
check "truncation counted" 'grep -q "2 texts embedded, 1 truncated to 256 tokens" "$tmp/err"'
"$bin" embed --model "$model" --input "$tmp/long.txt" --too-long error > /dev/null 2> "$tmp/err"
check "too-long error exit 1" '[ $? -eq 1 ]'
check "too-long error names line 2" 'grep -q "long.txt:2: text is longer" "$tmp/err"'
# errors
"$bin" embed --model /nonexistent --input "$tmp/in.txt" > /dev/null 2> "$tmp/err"
check "missing model exit 1" '[ $? -eq 1 ] && grep -q "cannot load model: /nonexistent/config.json" "$tmp/err"'
"$bin" embed --model "$model" --input "$tmp/nope.txt" > /dev/null 2> "$tmp/err"
check "missing input exit 1" '[ $? -eq 1 ] && grep -q "cannot read input" "$tmp/err"'
"$bin" embed --model "$model" --format csv < /dev/null > /dev/null 2> "$tmp/err"
check "bad format exit 2" '[ $? -eq 2 ] && grep -q "format must be" "$tmp/err"'
"$bin" embed --model "$model" --batch 0 < /dev/null > /dev/null 2> "$tmp/err"
check "bad batch exit 2" '[ $? -eq 2 ]'
"$bin" embed --model "$model" --device cuda < "$tmp/in.txt" > /dev/null 2> "$tmp/err"
check "--device cuda without CUDA fails loudly" '[ $? -eq 1 ] && grep -qi "cuda" "$tmp/err"'
"$bin" embed --model "$model" --output /nonexistent-dir/x.jsonl < "$tmp/in.txt" > /dev/null 2> "$tmp/err"
check "unwritable output exit 1" '[ $? -eq 1 ]'
"$bin" frobnicate > /dev/null 2>&1
check "unknown command exit 2" '[ $? -eq 2 ]'
printf 'a\xff\xfeb\n' | "$bin" embed --model "$model" > "$tmp/bad.jsonl" 2>/dev/null
check "invalid UTF-8 is embedded, not fatal" '[ $? -eq 0 ] && [ $(wc -l < "$tmp/bad.jsonl") -eq 1 ]'
echo "test_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
