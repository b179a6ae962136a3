#!/usr/bin/env bash
# run_load.sh - the server's load benchmark on this machine (loopback only, bounded in time):
# indexes a synthetic 2,000-item catalogue, starts `feedrank serve`, and drives it with bench/load
# using requests of 500 candidates and a 16-token query. Prints one JSON line per run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=build/feedrank
tmp=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
python3 bench/device_load_inputs.py "$tmp" # the catalogue and the requests (the device benchmark uses the same)
$bin index --catalog "$tmp/catalog.csv" --out "$tmp/lt.store" 2>/dev/null
run() { # $1 = server flags, then load flags
  local flags=$1; shift
  $bin serve --store "$tmp/lt.store" --listen 127.0.0.1:50099 --log-level 1 $flags > "$tmp/srv.out" 2>&1 &
  srv=$!
  for _ in $(seq 100); do grep -q listening "$tmp/srv.out" 2>/dev/null && break; sleep 0.1; done
  echo -n "{\"server_flags\":\"$flags\",\"load\":"
  build/load --addr 127.0.0.1:50099 --requests "$tmp/requests.jsonl" "$@"
  echo "}"
  kill $srv; wait $srv || true
}
run "" --concurrency 2 --rate 50 --duration 20 --warmup 2
run "" --concurrency 8 --duration 20 --warmup 2
run "--omp-threads 0" --concurrency 2 --rate 50 --duration 20 --warmup 2
run "--omp-threads 0" --concurrency 8 --duration 20 --warmup 2
