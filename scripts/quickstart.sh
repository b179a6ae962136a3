#!/usr/bin/env bash
# quickstart.sh - from a fresh machine: installs the system packages, fetches and verifies the
# default model (all-MiniLM-L6-v2), builds feedrank, and runs the main job on the embedded
# example: embeds examples/queries.txt and prints each text with the first values of its vector.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/fetch-model.sh all-MiniLM-L6-v2
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
echo "== feedrank embed --input examples/queries.txt"
./build/feedrank embed --input examples/queries.txt --query > build/quickstart.jsonl
paste -d'\t' examples/queries.txt <(cut -c1-60 build/quickstart.jsonl)
