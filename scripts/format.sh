#!/usr/bin/env bash
# format.sh [--check] [FILE...] - applies .clang-format to feedrank's C/CUDA sources (every tracked
# *.c, *.h, *.cu, *.cuh except generated tables), or to the FILEs given. --check changes nothing and
# fails when a file is not formatted (clang-format --dry-run -Werror), naming it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
command -v clang-format > /dev/null || { echo "format.sh: clang-format not found (apt-get install clang-format)" >&2; exit 2; }
if [ $# -gt 0 ]; then
    files=("$@")
else
    # generated: src/unicode_tables.c (scripts/golden/make_unicode_tables.py), eval/html_entities.c
    mapfile -t files < <(git ls-files '*.c' '*.h' '*.cu' '*.cuh' | grep -vx -e src/unicode_tables.c -e src/html_entities.c -e eval/html_entities.c)
fi
if [ $check -eq 1 ]; then
    bad=0
    for f in "${files[@]}"; do clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || { echo "not formatted: $f"; bad=1; }; done
    exit $bad
fi
clang-format -i "${files[@]}"
echo "format.sh: formatted ${#files[@]} files"
