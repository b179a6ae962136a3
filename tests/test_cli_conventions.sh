#!/usr/bin/env bash
# test_cli_conventions.sh FEEDRANK MODEL_DIR SOURCE_DIR BUILD_DIR - the conventions every command
# follows (issue #19 item 5), by real invocations:
#   --help at every level lists every flag the command's source reads (taken from the source, so a
#   new flag without help fails here); `--opt=value` equals `--opt value`; the serve settings from
#   FEEDRANK_<KEY> (flags win); gRPC status names in the client's output and the server's log;
#   `feedrank --version`; `cmake --install` puts the binary and the proto in place.
set -u
bin=$1; model=$2; src=$3; build=$4
tmp=$(mktemp -d)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
[ -n "${KEEP_TMP:-}" ] && { trap - EXIT; echo "tmp: $tmp"; }
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }

# flags a source file reads: every string literal that is exactly a long flag
flags_of() { grep -ohE '"--[a-z0-9][a-z0-9-]*"' "$@" | tr -d '"' | grep -vx -- '--help' | sort -u; }
# serve: every settings key of server/config.c (S(name, ...) / I(name, ...) and the limits)
serve_flags() {
    { grep -oE '^\s*[SI]\([a-z_]+,' "$src/server/config.c" | sed -E 's/^\s*[SI]\(//; s/,$//'
      grep -oE '"max_[a-z_]+"' "$src/server/config.c" | tr -d '"'; } | sort -u | tr '_' '-' | sed 's/^/--/'
}
# help_lists NAME HELP_FILE FLAG...: every flag appears in the help text
help_lists() {
    local name=$1 file=$2 missing=
    shift 2
    for f in "$@"; do grep -qe "$f\b" "$file" || missing="$missing $f"; done
    check "$name --help lists every flag${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
}
help_of() { # help_of OUT ARGS...: runs FEEDRANK ARGS --help, which must exit 0 with the usage on stdout
    local out=$1
    shift
    "$bin" "$@" > "$out" 2> "$tmp/help.err"
    check "'feedrank $* ' exits 0 with a usage on stdout" '[ $? -eq 0 ] && grep -q "usage:" "$out"'
}

# ---- --help everywhere ----
help_of "$tmp/h.top" --help
for c in embed index rerank store serve client bench train tune version; do
    check "top-level help names '$c'" 'grep -qE "^  $c " "$tmp/h.top"'
done
help_of "$tmp/h.embed" embed --help;   help_lists embed "$tmp/h.embed" $(flags_of "$src/cli/cmd_embed.c")
help_of "$tmp/h.rerank" rerank --help; help_lists rerank "$tmp/h.rerank" $(flags_of "$src/cli/cmd_rerank.c")
help_of "$tmp/h.train" train --help;   help_lists train "$tmp/h.train" $(flags_of "$src/cli/cmd_train.c")
help_of "$tmp/h.index" index --help
help_lists index "$tmp/h.index" $(flags_of "$src/cli/cmd_index.c" "$src/cli/cmd_priors.c")
help_of "$tmp/h.ipri" index --interactions LOG --help
help_lists "index --interactions" "$tmp/h.ipri" $(flags_of "$src/cli/cmd_priors.c")
help_of "$tmp/h.serve" serve --help;   help_lists serve "$tmp/h.serve" $(serve_flags) --config
check "serve --help documents the environment rule" 'grep -q "FEEDRANK_KEY_WITH_UNDERSCORES" "$tmp/h.serve"'
# bench ab and tune share one source file (cli/cmd_bench.c; src/cmd_bench.c in trees from before the
# harness moved to eval/): every flag it reads is in one of the two helps
bench_src=$(ls "$src/cli/cmd_bench.c" "$src/src/cmd_bench.c" 2> /dev/null | head -1)
if [ -n "$bench_src" ]; then
    help_of "$tmp/h.bench" bench ab --help
    help_of "$tmp/h.tune" tune --help
    cat "$tmp/h.bench" "$tmp/h.tune" > "$tmp/h.bench.all"
    help_lists "bench ab + tune" "$tmp/h.bench.all" $(flags_of "$bench_src")
fi
help_of "$tmp/h.store" store --help
for s in merge info attach-priors attach-model compact; do help_of "$tmp/h.store.$s" store "$s" --help; done
cat "$tmp"/h.store.* > "$tmp/h.store.all"
help_lists "store (subcommands)" "$tmp/h.store.all" $(flags_of "$src/cli/cmd_store.c") --store
"$bin" store info --help > /dev/null 2> "$tmp/err"
check "store info --help opens no file called --help" '! grep -q "help:" "$tmp/err"'
help_of "$tmp/h.client" client --help
for s in rerank embed health; do help_of "$tmp/h.client.$s" client "$s" --help; done
help_lists client "$tmp/h.client" $(flags_of "$src/cli/client.c")
check "client rerank --help lists --input, not --text" 'grep -q -- "--input" "$tmp/h.client.rerank" && ! grep -q -- "--text" "$tmp/h.client.rerank"'
check "client embed --help lists --text and --kind" 'grep -q -- "--text" "$tmp/h.client.embed" && grep -q -- "--kind" "$tmp/h.client.embed"'
"$bin" client frobnicate > /dev/null 2> "$tmp/err"
check "client: an unknown call is a usage error" '[ $? -eq 2 ] && grep -q "unknown call" "$tmp/err"'

# ---- --opt=value is --opt value ----
printf 'cordless drill\nLED bulb 60W\n' > "$tmp/in.txt"
"$bin" embed --model "$model" --input "$tmp/in.txt" --format npy --output "$tmp/a.npy" 2> /dev/null
"$bin" embed --model="$model" --input="$tmp/in.txt" --format=npy --output="$tmp/b.npy" 2> /dev/null
check "embed --opt=value gives the same bytes as --opt value" '[ -s "$tmp/a.npy" ] && cmp -s "$tmp/a.npy" "$tmp/b.npy"'
"$bin" embed --model="$model" --batch=0 < /dev/null > /dev/null 2> "$tmp/err"
check "--batch=0 is checked like --batch 0" '[ $? -eq 2 ] && grep -q -- "--batch" "$tmp/err"'
"$bin" embed --frobnicate=1 < /dev/null > /dev/null 2> "$tmp/err"
check "an unknown --opt=value is a usage error" '[ $? -eq 2 ]'
"$bin" index --model="$model" --catalog="$src/examples/catalog.csv" --text="{title}. {brand}" --out="$tmp/s.store" 2> "$tmp/err"
check "index with --opt=value" '[ $? -eq 0 ] && [ -s "$tmp/s.store" ]'
"$bin" index --interactions="$tmp/none.jsonl" --store="$tmp/s.store" 2> "$tmp/err"
check "index --interactions=FILE selects the priors build" '[ $? -ne 0 ] && grep -q "none.jsonl" "$tmp/err"'

# ---- version ----
"$bin" --version > "$tmp/v" 2>&1
check "--version: version, backends, revision" '[ $? -eq 0 ] && grep -qE "^feedrank [0-9]+\.[0-9]+\.[0-9]+" "$tmp/v" && grep -qE "^backends: cpu( |$)" "$tmp/v" && grep -qE "^revision: [0-9a-f]{7,}|^revision: unknown" "$tmp/v"'
if grep -q "^FEEDRANK_SERVER:BOOL=ON" "$build/CMakeCache.txt"; then
    check "--version names the server" 'grep -qE "^backends:.* server" "$tmp/v"'
fi

# ---- install ----
cmake --install "$build" --prefix "$tmp/inst" > "$tmp/install.log" 2>&1
check "cmake --install succeeds" '[ $? -eq 0 ]'
check "installed binary runs" '"$tmp/inst/bin/feedrank" --version | grep -q "^feedrank "'
check "installed proto" '[ -f "$tmp/inst/share/feedrank/proto/feedrank/v1/reranker.proto" ] && cmp -s "$tmp/inst/share/feedrank/proto/feedrank/v1/reranker.proto" "$src/proto/feedrank/v1/reranker.proto"'

# ---- serve: environment, flags win; status names (server builds only) ----
if grep -q "^FEEDRANK_SERVER:BOOL=ON" "$build/CMakeCache.txt" && [ -s "$tmp/s.store" ]; then
    FEEDRANK_MAX_BATCH=0 "$bin" serve --model "$model" --store "$tmp/s.store" > /dev/null 2> "$tmp/err"
    check "a bad FEEDRANK_MAX_BATCH is an error naming the variable" '[ $? -eq 2 ] && grep -q "FEEDRANK_MAX_BATCH" "$tmp/err"'
    FEEDRANK_PRECISION=fp8 "$bin" serve --model "$model" --store "$tmp/s.store" > /dev/null 2> "$tmp/err"
    check "a bad FEEDRANK_PRECISION is an error naming the variable" '[ $? -eq 2 ] && grep -q "FEEDRANK_PRECISION" "$tmp/err"'
    FEEDRANK_LISTEN=127.0.0.1:0 "$bin" serve --model "$model" --store "$tmp/s.store" --max-batch=0 > /dev/null 2> "$tmp/err"
    check "serve --max-batch=0 is checked like --max-batch 0" '[ $? -eq 2 ] && grep -q "max_batch" "$tmp/err"'
    # FEEDRANK_LISTEN names a port that is never opened: the flag must win
    FEEDRANK_LISTEN=127.0.0.1:1 FEEDRANK_TOKEN=s3cret FEEDRANK_STORE="$tmp/s.store" FEEDRANK_MODEL="$model" \
        "$bin" serve --listen=127.0.0.1:0 --log-level=2 > "$tmp/srv.out" 2> "$tmp/srv.err" &
    srv=$!
    port=
    for _ in $(seq 1 600); do
        port=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$tmp/srv.out")
        [ -n "$port" ] && break
        kill -0 "$srv" 2>/dev/null || break
        sleep 0.1
    done
    check "serve took --store and --model from the environment, --listen from the flag" '[ -n "$port" ] && [ "$port" != 1 ]'
    if [ -n "$port" ]; then
        "$bin" client embed --addr="127.0.0.1:$port" --timeout=20 --text=drill > "$tmp/c.out" 2> "$tmp/c.err"
        check "client without the token: the status by name" '[ $? -eq 1 ] && grep -q "UNAUTHENTICATED" "$tmp/c.err" && ! grep -q "status 16" "$tmp/c.err"'
        FEEDRANK_TOKEN=s3cret "$bin" client health --addr "127.0.0.1:$port" --timeout 20 > "$tmp/c.out" 2> "$tmp/c.err"
        check "client with FEEDRANK_TOKEN (the server's from the environment too)" '[ $? -eq 0 ] && grep -q SERVING "$tmp/c.out"'
        echo '{"request_id":"r1","arm":"no-such-arm","context":{"query":"drill"},"candidates":[{"item_id":"x"}]}' > "$tmp/bad.jsonl"
        FEEDRANK_TOKEN=s3cret "$bin" client rerank --addr "127.0.0.1:$port" --input="$tmp/bad.jsonl" --timeout 20 > /dev/null 2> "$tmp/c.err"
        check "client rerank: a rejected request prints INVALID_ARGUMENT" '[ $? -eq 1 ] && grep -q "INVALID_ARGUMENT" "$tmp/c.err"'
        sleep 0.3
        check "server log: status names, no numbers" 'grep -q "status=INVALID_ARGUMENT" "$tmp/srv.err" && ! grep -qE "status=[0-9]" "$tmp/srv.err"'
    fi
    kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; srv=
fi

echo "test_cli_conventions: $pass passed, $fail failed"
[ $fail -eq 0 ]
