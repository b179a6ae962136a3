#!/usr/bin/env bash
# prepare-device-carry.sh - build what the GPU machine runs and gather it in .devcarry/ (git-ignored
# through .git/info/exclude), for bench/run_embed_gpu.sh there:
#   .devcarry/bins.tar.xz   engine-only build for sm_90 (no server, no OpenBLAS, no -march=native):
#                           test_ops, test_encoder_cuda, embed_gpu, feedrank
#   .devcarry/lib/          the two shared libraries that machine's image lacks (cJSON, libgomp)
#   .devcarry/minilm-f16/   all-MiniLM-L6-v2 with fp16 weights (45 MB; the fp32 file is 91 MB)
# The GPU machine has no registry access, and a call carries at most 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release -DFEEDRANK_SERVER=OFF -DFEEDRANK_BLAS=OFF -DFEEDRANK_NATIVE=OFF -DCMAKE_C_FLAGS=-march=x86-64-v3 \
  -DFEEDRANK_CUDA=ON -DFEEDRANK_CUDA_ARCH=90 > build-dev.cmake.log
cmake --build build-dev -j"$(nproc)" --target test_ops test_encoder_cuda embed_gpu feedrank
mkdir -p .devcarry/lib
tar -C build-dev -cJf .devcarry/bins.tar.xz test_ops test_encoder_cuda embed_gpu feedrank
for lib in libcjson.so.1 libgomp.so.1; do
  cp -L "$(/sbin/ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')" .devcarry/lib/
done
[ -f .devcarry/minilm-f16/model.safetensors ] || "$PY" scripts/make-f16-model.py models/all-MiniLM-L6-v2 .devcarry/minilm-f16
du -sh .devcarry
