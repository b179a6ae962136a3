#!/usr/bin/env bash
# test_core_symbols.sh ARCHIVE SOURCE_DIR [LIST...] - the product libraries hold only the product,
# and kernels/ includes nothing from src/.
#
# Lists, with nm, every symbol ARCHIVE defines and fails when one belongs to the command-line tool
# (cli/) or to the evaluation harness (eval/). Each LIST names a group below; a group is a list of
# rules, one per line:
#   prefix  SYM      a defined global symbol starting with SYM (fr_cmd_ matches fr_cmd_embed)
#   object  NAME     an object file NAME in the archive (cli.c.o)
#   # ...            a comment
# Adding a rule: add a line to a group. A group's rules must all be about code that lives outside
# the product; a symbol the product itself needs (the ranker's BM25) must never be listed.
set -u
archive=$1
src=$2
shift 2
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(cli)

# the command-line tool: main, subcommands, argument helpers, CLI output files, the gRPC client
rules_cli='
prefix  main
prefix  fr_cmd_
prefix  fr_cli_
prefix  fr_client_
object  main.c.o
object  cli.c.o
object  client.c.o
object  cmd_serve.c.o
'
# the evaluation harness (bench ab, tune): dataset loaders, metrics, bootstrap, the report, HTML
# entity tables (eval/). RecBole line splitting (src/recbole.c) and BM25 are product code: the
# priors reader and the ranker use them.
# Enabled once eval/ exists (the branch that moves this code there); until then the code is still
# in the core library and this group would fail.
rules_eval='
prefix  fr_dataset_
prefix  fr_ndcg
prefix  fr_mrr
prefix  fr_hit
prefix  fr_bootstrap
prefix  fr_paired_p
prefix  fr_rank_by_score
object  dataset.c.o
object  bench.c.o
object  bench_report.c.o
object  cmd_bench.c.o
prefix  fr_html_
'

# Layering: kernels/ includes nothing from src/ (the backends and the GPU trainer stand alone; src/
# includes kernels/, never the reverse). A quoted include in kernels/ whose name is a header in src/
# and not one in kernels/ fails, as does any path through src/.
layer_fail=0
while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<< "$line")
    base=$(basename "$inc")
    if [[ $inc == *src/* ]] || { [ -f "$src/src/$base" ] && ! find "$src/kernels" -name "$base" | grep -q .; }; then
        echo "FAIL: ${file#"$src"/} includes \"$inc\" from src/ (kernels/ must include nothing from src/)"
        layer_fail=1
    fi
done < <(grep -rHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$src/kernels" --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh')
[ $layer_fail -eq 0 ] || exit 1

[ -f "$archive" ] || { echo "FAIL: no archive $archive"; exit 1; }
syms=$(nm -A --defined-only "$archive" 2>/dev/null | awk '$(NF-1) ~ /^[TDBRVWC]$/ { n = split($1, p, ":"); print p[n-1], $NF }')
[ -n "$syms" ] || { echo "FAIL: nm found no symbols in $archive"; exit 1; }

fail=0
checked=0
for g in "${groups[@]}"; do
    if [ "$g" = eval ] && [ ! -d "$src/eval" ]; then
        echo "skip: group eval (no $src/eval yet: the evaluation code has not moved out of the core)"
        continue
    fi
    var=rules_$g
    rules=${!var-}
    [ -n "$rules" ] || { echo "FAIL: no rule group '$g'"; exit 1; }
    while read -r kind what; do
        case $kind in '' | '#'*) continue ;; esac
        checked=$((checked + 1))
        case $kind in
        prefix) hits=$(awk -v p="$what" 'index($2, p) == 1 { print $1 ": " $2 }' <<< "$syms") ;;
        object) hits=$(awk -v o="$what" '$1 == o { print $1 ": " $2 }' <<< "$syms") ;;
        *) echo "FAIL: bad rule '$kind $what'"; exit 1 ;;
        esac
        if [ -n "$hits" ]; then
            echo "FAIL: $(basename "$archive") defines $g code ($kind $what):"
            sed 's/^/    /' <<< "$hits" | head -5
            fail=1
        fi
    done <<< "$rules"
done
[ $fail -eq 0 ] && echo "ok: $(basename "$archive"): $checked rules, no CLI/evaluation symbols ($(wc -l <<< "$syms") symbols)"
exit $fail
