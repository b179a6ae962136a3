#!/usr/bin/env bash
# run_soak.sh [SECONDS] [--out DIR] [--max-health-misses N] [--truncate-at S] - a bounded soak of
# `feedrank serve` on loopback (default 180 s; the recorded run uses 1800): valid traffic from
# build/load (4 closed-loop clients, the request mix below) for SECONDS after a 10 s warm-up, and for
# the same time, each in its own bounded closed loop, from bench/soak_clients.py (Debian's
# python3-grpcio, stubs generated now from proto/), every call with a deadline:
#   - abusive unary calls, round-robin: unknown ids, empty context, too many candidates, unknown arm,
#     20 KB query, history timestamps of +2^62 / -2^62 / both, NUL in a candidate id, a history id and
#     a query (leading, inside), all-unknown history, weight-0 history, a NaN score, 16 KiB of
#     metadata (own connection), a wrong and a missing bearer token, an unknown method and service,
#     malformed protobuf; and the heavy ones: MMR over all 2,000 candidates with mmr_depth 2^32-1, an
#     Embed of 64 x 16 KiB with a 0.5 s deadline, 3 MiB of 1.5M empty candidates;
#   - RerankStream sessions: a fast sender (1,000 requests, all responses read) and a sender that
#     never reads a response, cancelled after 10 s;
#   - health Check every 250 ms with a 100 ms deadline (misses counted and plotted);
#   - 32 idle plain TCP connections to the gRPC port and 8 to the metrics port, held open;
#   - store file events: `kill -HUP` every HUP s; an in-place `cp` of the other valid store over the
#     served file every OVERWRITE s (alternating a 2,000-item and a 1,500-item store); once, at
#     TRUNCATE s, the served file truncated to 4 KiB in place and restored 2 s later. HUP = 60 and
#     OVERWRITE = 300 from 20 minutes up; shorter runs scale them down (SECONDS/4 and SECONDS/3) so
#     each happens; TRUNCATE = 0.6 x SECONDS (--truncate-at S overrides, 0 = never).
# The server runs with a bearer token (--token-file when the binary has it, else --token) and
# metrics on. VmRSS is sampled every 10 s with the server's OK count (/metrics) into OUT/rss.tsv;
# OUT/soak.png plots it (gnuplot) with the store events and the health misses. A server death
# stops the soak at once (reported: when, how, after which event); nothing waits without a bound.
#
# PASS (exit 0) needs all of: the server alive to the end; exit 0 within 30 s of SIGTERM; RSS at the
# end <= 1.2 x RSS after warm-up (the first sample at or after min(120, SECONDS/5) s); health misses
# <= --max-health-misses (default 0); at least one valid request answered OK; the Python clients
# finished. Otherwise exit 1 (2: bad usage). Status codes of the abusive calls are recorded, never
# judged. Prints OUT's path first and one JSON summary line last (also OUT/summary.json).
# OUT (--out, default a new temporary folder) keeps: summary.json, rss.tsv, events.tsv,
# health_misses.tsv, soak.png, load.json, clients.json, server.log, metrics_end.txt, plot.gp.
set -euo pipefail
secs=180 out= max_misses=0 trunc_at=
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --max-health-misses) max_misses=$2; shift 2 ;;
        --truncate-at) trunc_at=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        [0-9]*) secs=$1; shift ;;
        *) echo "run_soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 30 ] && [ "$secs" -le 3600 ] || { echo "run_soak.sh: SECONDS must be 30..3600 (bench/load's bound)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=/usr/bin/python3  # Debian's python3-grpcio / python3-grpc-tools, as tests/test_server.py
[ -x build/feedrank ] && [ -x build/load ] || { echo "run_soak.sh: build feedrank and load first" >&2; exit 2; }
$py -c 'import grpc, grpc_tools' 2>/dev/null || { echo "run_soak.sh: $py lacks grpcio / grpc_tools (python3-grpcio python3-grpc-tools)" >&2; exit 2; }
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/feedrank_soak.XXXXXX")
mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "run_soak.sh: output in $out" >&2
work=$(mktemp -d)
srv= lp= cp_= died=
cleanup() {
    for p in $lp $cp_ $srv; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        alive_any=
        for p in $lp $cp_ $srv; do kill -0 "$p" 2>/dev/null && alive_any=1; done
        [ -z "$alive_any" ] && break
        sleep 0.1
    done
    for p in $lp $cp_ $srv; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$secs" -ge 1200 ]; then hup_every=60 ow_every=300; else hup_every=$((secs / 4)) ow_every=$((secs / 3)); fi
[ -n "$trunc_at" ] || trunc_at=$((secs * 6 / 10))
warm_s=$((secs / 5)); [ $warm_s -gt 120 ] && warm_s=120

# ---- data: a 2,000-item catalogue indexed in 4 shards; store A = all, store B = 3 shards (1,500 items,
# ---- another order): both valid, different sizes and versions
$py - "$work" <<'PY'
import json, random, sys
d = sys.argv[1]
r = random.Random(7)
words = "cordless drill light bulb garden hose kitchen sink paint roller ceramic tile ceiling fan smart thermostat".split()
with open(f"{d}/catalog.csv", "w") as f:
    f.write("id,title\n")
    for i in range(2000):
        f.write(f"i{i},{' '.join(r.choice(words) for _ in range(6))}\n")
with open(f"{d}/mix.jsonl", "w") as f:
    for k in range(400):
        kind = k % 10
        q = " ".join(r.choice(words) for _ in range(14))
        cands = [{"item_id": f"i{x}", "upstream_score": r.random()} for x in r.sample(range(2000), 300)]
        req = {"request_id": f"s{k}", "context": {"query": q}, "candidates": cands}
        if kind == 1: req["candidates"].append({"item_id": "nope"})                     # per-item error
        if kind == 2: req["context"] = {"history": [{"item_id": "i1"}, {"item_id": "i2"}]}  # history only
        if kind == 3: req["context"] = {}                                                 # INVALID: empty context
        if kind == 4: req["candidates"] = cands * 7                                       # INVALID: > 2000 candidates
        if kind == 5: req["arm"] = "nope"                                                 # INVALID: unknown arm
        if kind == 6: req["context"]["query"] = "x" * 20000                              # INVALID: oversized query
        if kind == 7: req["options"] = {"mmr_lambda": 0.7, "top_k": 20}
        f.write(json.dumps(req) + "\n")
PY
for s in 0 1 2 3; do
    build/feedrank index --catalog "$work/catalog.csv" --shard $s/4 --out "$work/p$s.store" 2>"$work/index.log" || { cat "$work/index.log" >&2; exit 2; }
done
build/feedrank store merge --out "$work/A.store" "$work"/p0.store "$work"/p1.store "$work"/p2.store "$work"/p3.store > /dev/null
build/feedrank store merge --out "$work/B.store" "$work"/p3.store "$work"/p2.store "$work"/p1.store > /dev/null
served=$work/served.store
cp "$work/A.store" "$served"
cur=A

# ---- server: loopback, free ports, a token, metrics on
read -r port mport < <($py -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
token=soak-$RANDOM$RANDOM
printf '%s\n' "$token" > "$work/token"; chmod 600 "$work/token"
if build/feedrank serve --help 2>&1 | grep -q -- --token-file; then auth=(--token-file "$work/token"); else auth=(--token "$token"); fi
build/feedrank serve --store "$served" --listen "127.0.0.1:$port" --metrics-port "$mport" --max-candidates 2000 \
    --log-level 1 "${auth[@]}" > "$out/server.log" 2>&1 &
srv=$!
for _ in $(seq 300); do grep -q listening "$out/server.log" && break; kill -0 $srv 2>/dev/null || break; sleep 0.1; done
grep -q listening "$out/server.log" || { echo "run_soak.sh: the server did not start:" >&2; cat "$out/server.log" >&2; exit 2; }
addr=127.0.0.1:$port

# ---- the clients get ready (stubs, payloads, connections) while the valid traffic warms up
$py bench/soak_clients.py drive --addr "$addr" --metrics-port "$mport" --token-file "$work/token" --src "$root" \
    --work "$work" --out "$out" --seconds "$secs" --max-candidates 2000 --items 2000 > "$out/clients.log" 2>&1 &
cp_=$!
build/load --addr "$addr" --token "$token" --requests "$work/mix.jsonl" --concurrency 4 --duration 10 --warmup 0 > /dev/null
for _ in $(seq 600); do [ -e "$work/ready" ] && break; kill -0 $cp_ 2>/dev/null || break; sleep 0.1; done
[ -e "$work/ready" ] || { echo "run_soak.sh: soak_clients.py did not get ready:" >&2; tail -20 "$out/clients.log" >&2; exit 2; }

rss() { local r; r=$(awk '/^VmRSS/ {print $2}' /proc/$srv/status 2>/dev/null) || true; echo "${r:-NA}"; }
scrape_misses=0
reqs_ok() {  # the server's OK calls so far, all methods; NA when /metrics does not answer in 2 s
    local m
    if m=$(curl -s -m 2 "http://127.0.0.1:$mport/metrics"); then
        printf '%s\n' "$m" > "$out/metrics_last.txt"  # the server's counts survive its death
        awk '/^feedrank_requests_total/ && /code="OK"/ {s += $NF} END {printf "%d\n", s}' <<< "$m"
    else
        scrape_misses=$((scrape_misses + 1)); echo NA
    fi
}
now_us() { echo "${EPOCHREALTIME/./}"; }
printf '# elapsed_s\trss_kb\trequests_ok\n' > "$out/rss.tsv"
printf '# elapsed_s\tevent\tdetail\n' > "$out/events.tsv"
t0=$(now_us)
elapsed() { local n; n=$(now_us); echo $(((n - t0) / 1000000)); }
event() { printf '%s\t%s\t%s\n' "$(elapsed)" "$1" "$2" >> "$out/events.tsv"; last_event="$1 at $(elapsed) s"; }
last_event=none

# ---- the soak
echo "$EPOCHREALTIME" > "$work/go.tmp"; mv "$work/go.tmp" "$work/go"
build/load --addr "$addr" --token "$token" --requests "$work/mix.jsonl" --concurrency 4 --duration "$secs" --warmup 0 > "$out/load.json" 2> "$out/load.err" &
lp=$!
printf '0\t%s\t%s\n' "$(rss)" "$(reqs_ok)" >> "$out/rss.tsv"
next_sample=10 next_hup=$hup_every next_ow=$((ow_every + hup_every / 2)) restore_at= truncated=
while kill -0 $lp 2>/dev/null; do
    e=$(elapsed)
    if ! kill -0 $srv 2>/dev/null; then died=$e; break; fi
    if [ "$e" -ge "$next_sample" ]; then printf '%s\t%s\t%s\n' "$e" "$(rss)" "$(reqs_ok)" >> "$out/rss.tsv"; next_sample=$((next_sample + 10)); fi
    if [ "$e" -ge "$next_hup" ]; then kill -HUP $srv 2>/dev/null || true; event hup "kill -HUP"; next_hup=$((next_hup + hup_every)); fi
    if [ "$e" -ge "$next_ow" ] && [ -z "$restore_at" ]; then
        if [ $cur = A ]; then cur=B; else cur=A; fi
        cp "$work/$cur.store" "$served"; event overwrite "cp $cur.store over the served file"; next_ow=$((next_ow + ow_every))
    fi
    if [ "$trunc_at" -gt 0 ] && [ -z "$truncated" ] && [ "$e" -ge "$trunc_at" ]; then
        truncate -s 4096 "$served"; event truncate "served file truncated to 4096 bytes"; truncated=1; restore_at=$((e + 2))
    fi
    if [ -n "$restore_at" ] && [ "$e" -ge "$restore_at" ]; then cp "$work/$cur.store" "$served"; event restore "cp $cur.store back"; restore_at=; fi
    [ "$e" -gt $((secs + 120)) ] && break  # bench/load is bounded; so is this loop
    sleep 1
done
ran_s=$(elapsed)
[ -z "$died" ] && ! kill -0 $srv 2>/dev/null && died=$ran_s
alive=yes exit_=NA died_how=
if [ -n "$died" ]; then
    alive=no
    rc=0; wait $srv || rc=$?
    exit_=$rc
    if [ $rc -gt 128 ]; then died_how="signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"; else died_how="exit $rc"; fi
    echo "run_soak.sh: the server DIED at $died s ($died_how); last event: $last_event" >&2
    printf '%s\t%s\t%s\n' "$died" died "$died_how" >> "$out/events.tsv"
    kill -TERM $lp 2>/dev/null || true  # its result is lost; bench/load prints only at the end
fi
# stop the clients (bounded), then the last samples and a clean shutdown
kill -TERM $cp_ 2>/dev/null || true
clients_rc=0
for _ in $(seq 900); do kill -0 $cp_ 2>/dev/null || break; sleep 0.1; done
kill -KILL $cp_ 2>/dev/null && clients_rc=killed
[ "$clients_rc" = killed ] || { wait $cp_ || clients_rc=$?; }
for _ in $(seq 100); do kill -0 $lp 2>/dev/null || break; sleep 0.1; done
kill -KILL $lp 2>/dev/null || true
wait $lp 2>/dev/null || true
rss_end=NA
if [ $alive = yes ]; then
    rss_end=$(rss)
    printf '%s\t%s\t%s\n' "$(elapsed)" "$rss_end" "$(reqs_ok)" >> "$out/rss.tsv"
    curl -s -m 5 "http://127.0.0.1:$mport/metrics" > "$out/metrics_end.txt" || true
    kill -TERM $srv
    for _ in $(seq 300); do kill -0 $srv 2>/dev/null || break; sleep 0.1; done
    if kill -0 $srv 2>/dev/null; then kill -KILL $srv; wait $srv 2>/dev/null || true; exit_=timeout
    else rc=0; wait $srv || rc=$?; exit_=$rc; fi
fi
srv= lp= cp_=
cat > "$out/facts.env" <<EOF
seconds=$secs
ran_s=$ran_s
warm_s=$warm_s
alive=$alive
died_at_s=${died:-NA}
died_how=$died_how
last_event=$last_event
exit=$exit_
rss_kb_end=$rss_end
scrape_misses=$scrape_misses
max_health_misses=$max_misses
clients_rc=$clients_rc
hup_every=$hup_every
overwrite_every=$ow_every
truncate_at=$trunc_at
EOF
rc=0
$py bench/soak_clients.py summary --out "$out" || rc=$?

# ---- the plot: RSS (MiB, left axis) and OK calls (right axis) over time; store events as vertical
# ---- lines (HUP grey; overwrite blue; truncate red; restore green); health misses as red crosses
if command -v gnuplot > /dev/null; then
    esc() { sed 's/\\/\\\\/g; s/"/\\"/g' <<< "$1"; }
    {
        echo 'set terminal pngcairo size 1400,800 font "sans,10"'
        echo 'set termoption noenhanced'
        echo "set output \"$out/soak.png\""
        echo "set title \"$(esc "$(cat "$out/plot_title.txt")")\""
        echo 'set datafile separator "\t"'
        echo 'set datafile missing "NA"'
        echo 'set xlabel "seconds since the soak started (after a 10 s warm-up of valid traffic)"'
        echo 'set ylabel "server VmRSS (MiB)"'
        echo 'set y2label "calls answered OK so far (server /metrics, all methods)"'
        echo 'set ytics nomirror'
        echo 'set y2tics'
        echo 'set format y2 "%.0f"'
        echo "set xrange [0:$(grep -hv '^#' "$out/rss.tsv" "$out/events.tsv" | awk -F'\t' '$1 > m {m = $1} END {m += (m > 100 ? m / 50 : 2); printf "%d\n", (m > 10 ? m : 10)}')]"
        echo 'set yrange [0:*]'
        echo 'set y2range [0:*]'
        echo 'set grid'
        echo 'set bmargin 7'
        echo 'set key at screen 0.5, screen 0.01 center bottom horizontal maxrows 2'
        while IFS=$'\t' read -r t ev _; do
            case $ev in hup) c='#b0b0b0' ;; overwrite) c='#2060d0' ;; truncate) c='#d02020' ;; restore) c='#20a040' ;; died) c='#000000' ;; *) continue ;; esac
            echo "set arrow from $t, graph 0 to $t, graph 1 nohead lc rgb '$c' $([ $ev = died ] && echo 'lw 2' || echo 'dt 2')"
            [ "$ev" = died ] && ev="server died ($(grep -P '\tdied\t' "$out/events.tsv" | cut -f3))"
            [ "$ev" = hup ] || echo "set label \"$(esc "$ev")\" at $t, graph 0.97 rotate by 90 right offset -0.6,0 textcolor rgb '$c'"
        done < <(grep -v '^#' "$out/events.tsv")
        plots="\"$out/rss.tsv\" using 1:(\$2/1024) with linespoints lw 2 pt 7 ps 0.6 lc rgb '#000080' title 'VmRSS (MiB)', \"$out/rss.tsv\" using 1:3 axes x1y2 with linespoints lw 1 pt 6 ps 0.5 lc rgb '#30a030' title 'calls OK so far (right axis)'"
        if grep -qv '^#' "$out/health_misses.tsv" 2>/dev/null; then
            plots+=", \"$out/health_misses.tsv\" using 1:(0) with points pt 2 ps 1.2 lc rgb '#d02020' title 'health Check missed 100 ms'"
        fi
        has() { grep -qP "\t$1\t" "$out/events.tsv"; }
        ! has hup || plots+=", NaN with lines dt 2 lc rgb '#b0b0b0' title 'kill -HUP'"
        ! has overwrite || plots+=", NaN with lines dt 2 lc rgb '#2060d0' title 'cp of the other store over the served file'"
        ! has truncate || plots+=", NaN with lines dt 2 lc rgb '#d02020' title 'served file truncated to 4 KiB'"
        ! has restore || plots+=", NaN with lines dt 2 lc rgb '#20a040' title 'served file restored'"
        ! has died || plots+=", NaN with lines lw 2 lc rgb '#000000' title 'server died'"
        echo "plot $plots"
    } > "$out/plot.gp"
    gnuplot "$out/plot.gp" 2> "$out/plot.err" || echo "run_soak.sh: gnuplot failed (see $out/plot.err)" >&2
else
    echo "run_soak.sh: gnuplot not found, no plot (apt-get install gnuplot-nox)" >&2
fi
echo "run_soak.sh: RSS samples $out/rss.tsv, plot $out/soak.png, summary $out/summary.json" >&2
exit $rc
