#!/usr/bin/env bash
# test_scale.sh FEEDRANK LOAD MODEL_DIR SOURCE_DIR - two `feedrank serve` replicas behind a real
# nginx (grpc_pass) on loopback: load goes through nginx, one replica is stopped mid-run, and
# requests keep succeeding (only calls in flight on the stopped replica may fail, each with a clean
# status); both replicas must have served traffic. Bounded: ~15 s of load.
set -u
bin=$1; load=$2; model=$3; src=$4
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
command -v nginx > /dev/null || { echo "test_scale: nginx is not installed (scripts/install-deps.sh installs it)"; exit 1; }

"$bin" index --model "$model" --catalog "$src/examples/catalog.csv" --text "{title}. {brand}" --out "$tmp/ex.store" 2>/dev/null
python3 - "$tmp/req.jsonl" <<'PY'
import json, sys
ids = [f"p{i:03d}" for i in range(1, 31)]
with open(sys.argv[1], "w") as f:
    for q in ["drill", "light bulb", "garden hose", "kitchen sink", "video game controller", "paint roller"]:
        f.write(json.dumps({"context": {"query": q}, "candidates": [{"item_id": i} for i in ids], "options": {"top_k": 5}}) + "\n")
PY
p1=$(port); p2=$(port); pl=$(port); m1=$(port); m2=$(port)
for n in 1 2; do
  eval "p=\$p$n; m=\$m$n"
  "$bin" serve --model "$model" --store "$tmp/ex.store" --listen "127.0.0.1:$p" --metrics-port "$m" --log-level 1 > "$tmp/r$n.out" 2> "$tmp/r$n.err" &
  pids+=($!)
done
r1=${pids[0]}; r2=${pids[1]}
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx.conf" <<NGX
worker_processes 1;
error_log $tmp/nginx/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream feedrank {
    server 127.0.0.1:$p1 max_fails=1 fail_timeout=30s;
    server 127.0.0.1:$p2 max_fails=1 fail_timeout=30s;
  }
  server {
    listen 127.0.0.1:$pl http2;
    location / {
      grpc_pass grpc://feedrank;
      grpc_next_upstream error timeout;
      grpc_connect_timeout 2s;
    }
  }
}
NGX
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" -g "daemon off;" 2> "$tmp/nginx.stderr" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/r1.out" && grep -q listening "$tmp/r2.out" && break; sleep 0.1; done
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$pl") 2>/dev/null && break; sleep 0.1; done
if ! (echo > "/dev/tcp/127.0.0.1/$pl") 2>/dev/null; then cat "$tmp/nginx.stderr" >&2; echo "test_scale: nginx did not start"; exit 1; fi
# load through nginx for 15 s; stop replica 1 after 5 s
"$load" --addr "127.0.0.1:$pl" --requests "$tmp/req.jsonl" --concurrency 4 --duration 15 --warmup 0 > "$tmp/load.json" &
lp=$!
sleep 5
served1=$(curl -s "127.0.0.1:$m1/metrics" | awk -F' ' '/^feedrank_requests_total\{method="Rerank",code="OK"\}/ {print $2}')
served2=$(curl -s "127.0.0.1:$m2/metrics" | awk -F' ' '/^feedrank_requests_total\{method="Rerank",code="OK"\}/ {print $2}')
kill -TERM "$r1"; wait "$r1"; rc1=$?
wait "$lp"
cat "$tmp/load.json"
echo "replica 1 served ${served1:-0}, replica 2 served ${served2:-0} before the stop"
check "both replicas served traffic" '[ "${served1:-0}" -gt 20 ] && [ "${served2:-0}" -gt 20 ]'
check "stopped replica exited 0" '[ $rc1 -eq 0 ]'
check "requests kept succeeding" 'python3 -c "
import json; r = json.load(open(\"$tmp/load.json\"))
ok = r[\"codes\"].get(\"0\", 0); bad = {k: v for k, v in r[\"codes\"].items() if k != \"0\"}
assert ok > 200, r
# only calls in flight during the switch may fail, with a clean status (UNAVAILABLE, CANCELLED)
assert set(bad) <= {\"14\", \"1\"} and sum(bad.values()) <= 8, bad"'
after2=$(curl -s "127.0.0.1:$m2/metrics" | awk -F' ' '/^feedrank_requests_total\{method="Rerank",code="OK"\}/ {print $2}')
check "the remaining replica took over" '[ "${after2:-0}" -gt "${served2:-0}" ]'
echo "test_scale: $pass passed, $fail failed"
[ $fail -eq 0 ]
