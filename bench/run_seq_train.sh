#!/usr/bin/env bash
# run_seq_train.sh [VENV] - CPU training speed of the sequential model: feedrank's C trainer
# (build/seq_train_cpu) and its PyTorch peer (bench/peers/seq_train_peer.py) on the same feed file,
# model, batch and negatives, one after the other in one run, on this machine. VENV (default
# /work/venv-torch) has torch. Settings from the environment:
#   DATA     RecBole feed file (default ../shared/data/amazon-games/Games.dev.inter)
#   MAX_SEQ  sequences per epoch, the file's first users (default 0 = all 35,334 on Games dev)
#   EPOCHS   epochs each (default 1)   THREADS  threads each (default 2)   ITEMS  catalogue size
# Writes JSON lines to bench/results/seq_train_cpu-<host>.jsonl and prints them; a load-average
# line before and after each program tells a busy machine from a slow one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-/work/venv-torch}
cd "$root"
data=${DATA:-../shared/data/amazon-games/Games.dev.inter}
max_seq=${MAX_SEQ:-0}
epochs=${EPOCHS:-1}
threads=${THREADS:-2}
items=${ITEMS:-16859}
if [ ! -x build/seq_train_cpu ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build -j"$threads" --target seq_train_cpu > /dev/null
fi
out="bench/results/seq_train_cpu-$(hostname).jsonl"
mkdir -p bench/results
load() { echo "{\"load_average\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"at\":\"$(date -u +%FT%TZ)\"}"; }
{ echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; data $data, max_seq $max_seq, epochs $epochs, threads $threads"
  load
  OMP_WAIT_POLICY=passive ./build/seq_train_cpu --data "$data" --epochs "$epochs" --max-seq "$max_seq" --threads "$threads"
  load
  "$venv/bin/python" bench/peers/seq_train_peer.py --data "$data" --epochs "$epochs" --max-seq "$max_seq" \
    --threads "$threads" --items "$items"
  load
} | tee -a "$out"
