#!/usr/bin/env bash
# test_outputs.sh FEEDRANK MODEL_DIR SOURCE_DIR - what the CLI writes when things go wrong (issue #22):
#  - output files on a full disk: exit 1, a message naming the file and the reason, no partial file,
#    a previous file left as it was; stdout and stderr on /dev/full: a non-zero exit;
#  - `embed --format npy` files that numpy itself loads, equal to the JSONL vectors;
#  - request lines with NUL bytes (\u0000), text after the object, duplicate keys: rejected by name;
#  - `index`: a header-only catalogue, --out a folder or an unwritable path (refused before the model
#    loads), and a second run on the same output (refused at once while the first holds its lock).
# The full disk is a 64 KiB tmpfs filled up (mount, or unshare -rm + mount); where neither is
# allowed, a 0-byte file-size limit (ulimit -f 0, SIGXFSZ ignored) makes the same writes fail (EFBIG).
set -u
bin=$1; model=$2; src=$3

probe=$(mktemp -d)
if mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null; then umount "$probe"; can_mount=1; else can_mount=0; fi
rmdir "$probe"
if [ $can_mount = 0 ] && [ -z "${FR_TEST_UNSHARED:-}" ] && unshare -rm true 2>/dev/null; then
  FR_TEST_UNSHARED=1 exec unshare -rm bash "$0" "$@"
fi

tmp=$(mktemp -d)
full=$tmp/full
mkdir "$full"
mode=ulimit
if [ "${FR_TEST_FULL:-}" = ulimit ]; then : # force the fallback (to test the test)
elif [ $can_mount = 1 ] || [ -n "${FR_TEST_UNSHARED:-}" ]; then
  mount -t tmpfs -o size=64k tmpfs "$full" 2>/dev/null && mode=tmpfs
fi
first=
trap '[ -n "$first" ] && kill $first 2>/dev/null; [ $mode = tmpfs ] && umount "$full" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "test_outputs: full disk by $mode"
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
nospace() { grep -q "$1.*\(No space left on device\|File too large\)" "$tmp/err"; }
# Files in $full other than the filler and the ones named: temporary files left behind.
leftovers() { ls -A "$full" | grep -v -x -e filler "$@"; }

# on_full CMD...: runs CMD where writing a file under $full fails; CMD's stdout is discarded, its
# stderr goes to $tmp/err, and the status is CMD's.
on_full() {
  if [ $mode = tmpfs ]; then
    dd if=/dev/zero of="$full/filler" bs=4096 2>/dev/null # until the disk is full
    "$@" > /dev/null 2> "$tmp/err"
    local rc=$?
    rm -f "$full/filler"
    return $rc
  fi
  # the limit must not reach the error file itself: stderr goes through a pipe
  ( trap '' XFSZ; ulimit -f 0; "$@" ) 2>&1 > /dev/null | cat > "$tmp/err"
  return "${PIPESTATUS[0]}"
}

"$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --text "{title}. {brand}. {category}" \
  --out "$tmp/ex.store" 2> "$tmp/err"
check "index the example catalogue" '[ $? -eq 0 ]'
rr() { "$bin" rerank --model "$model" --store "$tmp/ex.store" "$@"; }
reqs=$src/examples/requests.jsonl
printf '{"request_id":"good","candidates":[{"item_id":"p001"}]}\nnot json\n{"request_id":"bad","candidates":7}\n' > "$tmp/mixed.jsonl"

# --- finding 8: rerank --output / --errors and embed --output on a full disk
printf 'old\n' > "$full/out.jsonl"
on_full rr --input "$reqs" --output "$full/out.jsonl"
check "rerank --output on a full disk: exit 1" '[ $? -eq 1 ]'
check "rerank --output on a full disk: message names the file and why" 'nospace "out.jsonl"'
check "rerank --output on a full disk: the old file is untouched" '[ "$(cat "$full/out.jsonl")" = old ]'
check "rerank --output on a full disk: no temporary file left" '[ -z "$(leftovers -e out.jsonl)" ]'
rm -f "$full/out.jsonl"
on_full rr --input "$tmp/mixed.jsonl" --output "$tmp/mixed.out" --errors "$full/errs.jsonl"
check "rerank --errors on a full disk: exit 1 (error reports lost)" '[ $? -eq 1 ]'
check "rerank --errors on a full disk: message names the file and why" 'nospace "errs.jsonl"'
check "rerank --errors on a full disk: no partial file" '[ -z "$(leftovers)" ]'
on_full "$bin" embed --model "$model" --input "$src/examples/queries.txt" --format npy --output "$full/v.npy"
check "embed --format npy on a full disk: exit 1" '[ $? -eq 1 ]'
check "embed --format npy on a full disk: message names the file and why" 'nospace "v.npy"'
check "embed --format npy on a full disk: no header-only file" '[ -z "$(leftovers)" ]'
on_full "$bin" embed --model "$model" --input "$src/examples/queries.txt" --output "$full/v.jsonl"
check "embed jsonl on a full disk: exit 1, no file" '[ $? -eq 1 ] && nospace "v.jsonl" && [ -z "$(leftovers)" ]'
# the same commands on a disk with room write whole files
rr --input "$reqs" --output "$tmp/out.jsonl" --errors "$tmp/errs.jsonl" 2> "$tmp/err"
check "rerank with room: exit 0, one response per request" '[ $? -eq 0 ] && [ $(wc -l < "$tmp/out.jsonl") -eq $(grep -c . "$reqs") ]'
check "rerank with room: no temporary files" '[ -z "$(ls -A "$tmp" | grep -e "\.tmp")" ]'
# stdout and stderr that cannot be written
rr --input "$reqs" > /dev/full 2> "$tmp/err"
check "rerank to a full stdout: exit 1 with the reason" '[ $? -eq 1 ] && grep -q "stdout.*No space left on device" "$tmp/err"'
"$bin" embed --model "$model" --input "$src/examples/queries.txt" > /dev/full 2> "$tmp/err"
check "embed to a full stdout: exit 1 with the reason" '[ $? -eq 1 ] && grep -q "stdout.*No space left on device" "$tmp/err"'
rr --input "$tmp/mixed.jsonl" --output "$tmp/m.jsonl" 2> /dev/full
check "rerank error reports to a full stderr: non-zero exit" '[ $? -ne 0 ]'
rr --input "$reqs" --output /dev/null --errors /dev/null 2> "$tmp/err"
check "rerank to /dev/null: written in place, exit 0" '[ $? -eq 0 ] && [ -c /dev/null ]'
rr --input "$reqs" --output "$tmp/same.jsonl" --errors "$tmp/same.jsonl" 2> "$tmp/err"
check "rerank --output and --errors one file: usage error" '[ $? -eq 2 ] && grep -q "same file" "$tmp/err" && [ ! -e "$tmp/same.jsonl" ]'
ln -s "$tmp/target.jsonl" "$tmp/link.jsonl"
rr --input "$reqs" --output "$tmp/link.jsonl" 2> "$tmp/err"
check "rerank --output through a symlink: the link is kept, its target written" '[ $? -eq 0 ] && [ -L "$tmp/link.jsonl" ] && [ -s "$tmp/target.jsonl" ]'

# /dev/stdout names the caller's descriptor (here opened for appending): written in place, not replaced
printf 'keep\n' > "$tmp/app.txt"
"$bin" embed --model "$model" --input "$src/examples/queries.txt" --output /dev/stdout >> "$tmp/app.txt" 2> "$tmp/err"
check "embed --output /dev/stdout appended to a file: nothing dropped" '[ $? -eq 0 ] && [ "$(head -1 "$tmp/app.txt")" = keep ] && [ $(wc -l < "$tmp/app.txt") -eq $(( $(wc -l < "$src/examples/queries.txt") + 1 )) ]'

# --- issue #19: embed --format npy loads in numpy and equals the JSONL output
"$bin" embed --model "$model" --input "$src/examples/queries.txt" --output "$tmp/q.jsonl" 2> /dev/null
"$bin" embed --model "$model" --input "$src/examples/queries.txt" --format npy --output "$tmp/q.npy" 2> /dev/null
check "embed npy to a file: exit 0" '[ $? -eq 0 ]'
"$bin" embed --model "$model" --format npy < "$src/examples/queries.txt" 2> /dev/null | cat > "$tmp/pipe.npy"
"$bin" embed --model "$model" --input "$src/examples/queries.txt" --format npy --output /dev/stdout 2> /dev/null > "$tmp/dev.npy"
: | "$bin" embed --model "$model" --format npy --output "$tmp/empty.npy" 2> /dev/null
/usr/bin/python3 - "$tmp/q.jsonl" "$tmp/empty.npy" "$tmp/q.npy" "$tmp/pipe.npy" "$tmp/dev.npy" <<'PY' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: numpy loads the .npy files, equal to the JSONL" >&2; }
import json, sys
import numpy
rows = numpy.array([json.loads(l) for l in open(sys.argv[1])], dtype=numpy.float64)
for path in sys.argv[3:]:
    a = numpy.load(path)
    assert a.dtype == numpy.float32 and a.shape == rows.shape, (path, a.dtype, a.shape)
    assert numpy.abs(a - rows).max() < 1e-6, path
    raw = open(path, "rb").read()
    hlen = int.from_bytes(raw[8:10], "little")
    assert raw[:8] == b"\x93NUMPY\x01\x00" and (10 + hlen) % 64 == 0 and raw[10 + hlen - 1:10 + hlen] == b"\n", raw[:16]
e = numpy.load(sys.argv[2])
assert e.shape == (0, rows.shape[1]), e.shape
PY

# --- finding 4 (JSON) and 16: NUL bytes, text after the object, duplicate keys in request lines
cat > "$tmp/hostile.jsonl" <<'EOF'
{"request_id":"n1","candidates":[{"item_id":"p001"},{"item_id":"p002"},{"item_id":"p001\u0000x"}]}
{"request_id":"n2","context":{"query":"drill\u0000 bulb"},"candidates":[{"item_id":"p001"}]}
{"request_id":"n3\u0000","candidates":[{"item_id":"p001"}]}
{"request_id":"n4","context":{"history":[{"item_id":"p\u0000"}]},"candidates":[{"item_id":"p001"}]}
{"request_id":"ok-escaped-backslash","context":{"query":"drill"},"candidates":[{"item_id":"p001"},{"item_id":"p001\\u0000"}]}
{"request_id":"t1","candidates":[{"item_id":"p001"}]} trailing
{"request_id":"t2","candidates":[{"item_id":"p001"}]}{"request_id":"t3"}
{"request_id":"d1","request_id":"d2","candidates":[{"item_id":"p001"}]}
{"request_id":"d3","candidates":[{"item_id":"p001","item_id":"p002"}]}
{"request_id":"k1","candidates":[{"item_id":"p001"}],"options":{"top_k\u0000":1}}
{"request_id":"ok-plain","context":{"query":"drill"},"candidates":[{"item_id":"p001"}]}   
{"request_id":"d4","context":{"query":"drill"},"candidates":[{"item_id":"p001"}],"options":{"semantic_weight":0.5,"upstream_weight":0.5,"query_weight":0.5,"history_half_life":0.5,"mmr_lambda":0.5,"mmr_depth":0,"top_k":3,"popularity_weight":0.5,"covisitation_weight":0.5,"lexical_weight":0.5,"log_gate":0.5,"cold_content_boost":0.5,"covisitation_half_life":0.5,"covisitation_norm":0.5,"history_half_life_seconds":0.5,"exclude_seen":false,"return_scores":true,"top_k":5}}
EOF
# line 13: a NUL byte between values (cJSON skips it as white space; it once hung the field walk),
# line 14: a byte-order mark before an id with \u0000 (cJSON skips the BOM; the walk must too)
printf '{"request_id":"z1","context":{"query":"drill"},"candidates":[{"item_id":"p001"}\0]}\n' >> "$tmp/hostile.jsonl"
printf '\xef\xbb\xbf{"request_id":"b1","context":{"query":"drill"},"candidates":[{"item_id":"p001\\u0000"}]}\n' >> "$tmp/hostile.jsonl"
timeout 120 "$bin" rerank --model "$model" --store "$tmp/ex.store" --input "$tmp/hostile.jsonl" --output "$tmp/h.out" --errors "$tmp/h.err" 2> "$tmp/err"
check "hostile lines: exit 0, the two good lines answered" '[ $? -eq 0 ] && [ "$(python3 -c "import json; print(\",\".join(json.loads(l)[\"requestId\"] for l in open(\"$tmp/h.out\")))")" = "ok-escaped-backslash,ok-plain" ]'
herr() { python3 -c "
import json, sys
for l in open('$tmp/h.err'):
    e = json.loads(l)
    if e['line'] == $1: print(e['error'])"; }
check "NUL in candidates[2].item_id named, line 1" 'herr 1 | grep -qx "candidates\[2\].item_id contains a NUL byte"'
check "NUL in context.query named, line 2" 'herr 2 | grep -qx "context.query contains a NUL byte"'
check "NUL in request_id named, line 3" 'herr 3 | grep -qx "request_id contains a NUL byte"'
check "NUL in context.history[0].item_id named, line 4" 'herr 4 | grep -qx "context.history\[0\].item_id contains a NUL byte"'
check "text after the object rejected, line 6" 'herr 6 | grep -q "text after the JSON object"'
check "a second object on the line rejected, line 7" 'herr 7 | grep -q "text after the JSON object"'
check "duplicate top-level key named, line 8" 'herr 8 | grep -qx "duplicate key \"request_id\""'
check "duplicate key in candidates[0] named, line 9" 'herr 9 | grep -qx "duplicate key \"item_id\" in candidates\[0\]"'
check "NUL in a key named, line 10" 'herr 10 | grep -q "a key in options contains a NUL byte"'
check "duplicate key among 18 (sorted, not pairwise) named, line 12" 'herr 12 | grep -qx "duplicate key \"top_k\" in options"'
check "a NUL byte between values rejected, line 13" 'herr 13 | grep -q "not valid JSON: control byte 0x00 at byte"'
check "a BOM does not hide a NUL in candidates[0].item_id, line 14" 'herr 14 | grep -qx "candidates\[0\].item_id contains a NUL byte"'
check "twelve bad lines, no more" '[ $(wc -l < "$tmp/h.err") -eq 12 ]'

# --- finding 16: index's early checks
printf 'id,title\n' > "$tmp/header-only.csv"
"$bin" index --model "$model" --catalog "$tmp/header-only.csv" --out "$tmp/empty.store" 2> "$tmp/err"
check "header-only catalogue: exit 1, no store" '[ $? -eq 1 ] && grep -q "header-only.csv: catalog has no items" "$tmp/err" && [ ! -e "$tmp/empty.store" ]'
check "header-only catalogue: no journal or lock left" '[ -z "$(ls -A "$tmp" | grep "^empty\.store")" ]'
mkdir "$tmp/adir"
"$bin" index --model /nonexistent --catalog "$src/examples/catalog.csv" --out "$tmp/adir" 2> "$tmp/err"
check "--out a folder: refused before the model loads" '[ $? -eq 1 ] && grep -q "adir.*is a directory" "$tmp/err" && ! grep -q "cannot load model" "$tmp/err"'
"$bin" index --model /nonexistent --catalog "$src/examples/catalog.csv" --out /nonexistent-dir/x.store 2> "$tmp/err"
check "--out in a missing folder: refused before the model loads" '[ $? -eq 1 ] && grep -q "/nonexistent-dir/x.store.*No such file or directory" "$tmp/err" && ! grep -q "cannot load model" "$tmp/err"'
# NUL bytes in catalogue rows would cut an id short; JSONL rows are parsed as strictly as requests
info_items() { "$bin" store info "$1" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['items'])"; }
printf '{"id":"a\\u0000b","title":"x"}\n{"id":"a\\u0000c","title":"y"}\n{"id":"k","title":"z"} junk\n{"id":"k2","id":"k3","title":"w"}\n{"id":"ok","title":"fine"}\n' > "$tmp/nul.jsonl"
"$bin" index --model "$model" --catalog "$tmp/nul.jsonl" --out "$tmp/nul.store" 2> "$tmp/err"
check "JSONL catalogue: NUL in an id, text after the object, a key twice: rows named and skipped" '[ $? -eq 0 ] && grep -q "nul.jsonl:1: id contains a NUL byte" "$tmp/err" && grep -q "nul.jsonl:2: id contains a NUL byte" "$tmp/err" && grep -q "nul.jsonl:3: text after the JSON object" "$tmp/err" && grep -q "nul.jsonl:4: duplicate key .id." "$tmp/err" && [ "$(info_items "$tmp/nul.store")" = 1 ]'
printf 'id,title\nk1\0x,one\n"k2",tw\0o\nk3,three\n' > "$tmp/nul.csv"
"$bin" index --model "$model" --catalog "$tmp/nul.csv" --out "$tmp/nulc.store" 2> "$tmp/err"
check "CSV catalogue: a NUL byte in a field: row named and skipped" '[ $? -eq 0 ] && grep -q "nul.csv:2: NUL byte in field 1" "$tmp/err" && grep -q "nul.csv:3: NUL byte in field 2" "$tmp/err" && [ "$(info_items "$tmp/nulc.store")" = 1 ]'
# a second run on the same output while the first holds it (blocked reading a FIFO catalogue)
mkfifo "$tmp/cat.fifo"
"$bin" index --model "$model" --format csv --catalog "$tmp/cat.fifo" --out "$tmp/l.store" 2> "$tmp/err1" &
first=$!
for _ in $(seq 200); do [ -e "$tmp/l.store.lock" ] && break; sleep 0.05; done
sleep 0.3
timeout 60 "$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --out "$tmp/l.store" 2> "$tmp/err"
check "a second index run on one output fails at once" '[ $? -eq 1 ] && grep -q "another index run is writing .*l.store" "$tmp/err"'
timeout 10 sh -c "printf 'id,title\nk1,one\n' > '$tmp/cat.fifo'"
timeout 120 tail --pid=$first -f /dev/null
wait $first
check "the first run finishes" '[ $? -eq 0 ] && grep -q "l.store: 1 items" "$tmp/err1"'
first=
check "the lock is removed after the run" '[ ! -e "$tmp/l.store.lock" ]'

echo "test_outputs: $pass passed, $fail failed"
[ $fail -eq 0 ]
