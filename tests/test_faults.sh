#!/usr/bin/env bash
# test_faults.sh FEEDRANK MODEL_DIR SOURCE_DIR - damaged files at start-up: a truncated or bit-flipped
# model file, tokenizer file, config and item store must each stop `feedrank serve` (and `embed`)
# with a non-zero exit and a message naming the file; nothing starts half-loaded.
set -u
bin=$1; model=$2; src=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# a model folder of links, with one file replaced by a damaged copy
damaged_model() { # $1 = file name, $2 = how (truncate|flip|empty)
  local d=$tmp/m-$1-$2
  rm -rf "$d"; mkdir -p "$d/1_Pooling"
  for f in "$model"/*.json "$model"/vocab.txt "$model"/model.safetensors; do ln -s "$(readlink -f "$f")" "$d/$(basename "$f")"; done
  ln -s "$(readlink -f "$model/1_Pooling/config.json")" "$d/1_Pooling/config.json"
  rm "$d/$1"
  case $2 in
    truncate) head -c $(( $(stat -L -c %s "$model/$1") / 2 )) "$model/$1" > "$d/$1" ;;
    flip) python3 -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
k = b.find(b'\"hidden_size\"')           # config.json: damage a value that matters
at = k + 15 if k >= 0 else 10           # elsewhere: the header / start of the file
b[at] ^= 0xFF; b[at + 1] ^= 0x5A
open(sys.argv[2], 'wb').write(b)" "$model/$1" "$d/$1" ;;
    empty) : > "$d/$1" ;;
  esac
  echo "$d"
}
"$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --out "$tmp/ok.store" 2>/dev/null
serve() { timeout 60 "$bin" serve --model "$1" --store "$2" --listen "127.0.0.1:$(port)" > "$tmp/out" 2> "$tmp/err"; }
for f in model.safetensors tokenizer.json config.json; do
  for how in truncate flip empty; do
    d=$(damaged_model $f $how)
    serve "$d" "$tmp/ok.store"; rc=$?
    check "serve with $how $f exits non-zero naming it (rc $rc)" '[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$f" "$tmp/err" && ! grep -q listening "$tmp/out"'
    echo hello | "$bin" embed --model "$d" > /dev/null 2> "$tmp/err"; rc=$?
    check "embed with $how $f exits 1 naming it" '[ $rc -eq 1 ] && grep -q "$f" "$tmp/err"'
  done
done
# item store: truncated, bit-flipped (every region), empty
size=$(stat -c %s "$tmp/ok.store")
head -c $((size - 100)) "$tmp/ok.store" > "$tmp/trunc.store"
: > "$tmp/empty.store"
for pos in 20 300 1200 $((size - 50)); do
  python3 -c "
import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[int(sys.argv[3])] ^= 0x40; open(sys.argv[2], 'wb').write(b)" "$tmp/ok.store" "$tmp/flip$pos.store" $pos
done
for st in trunc empty flip20 flip300 flip1200 flip$((size - 50)); do
  serve "$model" "$tmp/$st.store"; rc=$?
  check "serve with store $st exits 1 naming it" '[ $rc -eq 1 ] && grep -q "$st.store" "$tmp/err" && ! grep -q listening "$tmp/out"'
done
# a store from another model
"$bin" index --model "$src/tests/fixtures/tiny-bge" --catalog "$src/examples/catalog.csv" --out "$tmp/other.store" 2>/dev/null
serve "$model" "$tmp/other.store"; rc=$?
check "serve with another model's store exits 1" '[ $rc -eq 1 ] && grep -q "built by model" "$tmp/err"'
echo "test_faults: $pass passed, $fail failed"
[ $fail -eq 0 ]
