#!/usr/bin/env bash
# Request log on vs off, alternating, with CPU per request split by thread.
#
#   bench/gateway/log_ab.sh [ROUNDS] [SECONDS] [CONCURRENCY]     (defaults: 3 6 32)
#   SRC=/path/to/switchpoint/src bench/gateway/log_ab.sh          (the tree to measure; default: this one)
#
# On a shared machine one long run per variant mostly measures who else was busy at the time; this
# alternates short runs (off, on, off, on, ...) against the shared harness's nginx mock (fast,
# non-streamed replies), so both variants see the same conditions, and reads the gateway's CPU
# from /proc per thread: "main" is the event loop, "all" adds the log writer's SQLite thread.
# Needs nginx, wrk and curl (apt-get install -y nginx wrk curl). Everything it starts is stopped by
# PID. Output: one line per run (req/s, p99 latency, CPU per request), and the medians per variant.
set -euo pipefail
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-6}
CONC=${3:-32}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC=${SRC:-$(cd "$HERE/../../src" && pwd)}
HARNESS=${HARNESS:-$(cd "$HERE/../../../shared/bench/gateway" 2>/dev/null && pwd || echo /work/shared/bench/gateway)}
PORT_BASE=${PORT_BASE:-18600}
UP=$((PORT_BASE + 1)); GW=$((PORT_BASE + 10))
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

python3 "$HARNESS/lib/mock_nginx.py" --dir "$WORK/nginx" --port "$UP" --stream-port $((UP + 1)) --tokens 16 >/dev/null
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/err.log" -g 'daemon off;' >/dev/null 2>&1 </dev/null &
PIDS+=($!)
python3 - "$HARNESS/lib" "$WORK/body.json" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import canned
open(sys.argv[2], "wb").write(canned.request_body("bench-chat", False))
EOF
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = io.open("$WORK/body.json"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-master-key"
EOF
for variant in off on; do
  if [[ $variant == on ]]; then logs="{url: 'sqlite:///$WORK/logs.db', spool_dir: '$WORK/spool'}"; else logs="{url: null}"; fi
  cat >"$WORK/$variant.yaml" <<YAML
logs: $logs
server: {master_key: sk-bench-master-key}
models:
  - {name: bench-chat, provider: openai_compat, model: gpt-4o-mini, api_base: 'http://127.0.0.1:$UP/v1',
     api_key: sk-mock-upstream, input_cost_per_mtok: 0.15, output_cost_per_mtok: 0.60}
YAML
done

ticks() {  # "<tid> <utime+stime>" per thread of process $1
  for t in /proc/"$1"/task/*; do echo "$(basename "$t") $(awk '{print $14+$15}' "$t/stat")"; done
}

one() {  # $1 = off|on
  rm -rf "$WORK/logs.db"* "$WORK/spool"
  PYTHONPATH="$SRC" python3 -m switchpoint serve --config "$WORK/$1.yaml" --host 127.0.0.1 --port "$GW" \
    >"$WORK/gw.log" 2>&1 </dev/null &
  local gw=$!
  PIDS+=("$gw")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$GW/health/liveness" && break; sleep 0.1; done
  wrk -t1 -c"$CONC" -d2s -s "$WORK/post.lua" "http://127.0.0.1:$GW/v1/chat/completions" >/dev/null
  ticks "$gw" >"$WORK/t0"
  wrk -t1 -c"$CONC" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$GW/v1/chat/completions" >"$WORK/wrk"
  ticks "$gw" >"$WORK/t1"
  kill "$gw"; wait "$gw" 2>/dev/null || true
  local n rps p99
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk")
  p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub("us", "", v); v /= 1000} else if (v ~ /ms$/) {sub("ms", "", v)} else {sub("s", "", v); v *= 1000}; print v}' "$WORK/wrk")
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk")
  join "$WORK/t0" "$WORK/t1" | awk -v gw="$gw" -v n="$n" -v rps="$rps" -v p99="$p99" -v v="$1" '
    {all += $3 - $2; if ($1 == gw) main = $3 - $2}
    END {printf "%s rps=%.0f p99_ms=%.2f cpu_us_per_req_all=%.0f cpu_us_per_req_main=%.0f\n", v, rps, p99, all*1e4/n, main*1e4/n}'
}

for _ in $(seq "$ROUNDS"); do one off; one on; done | tee "$WORK/results"
for v in off on; do
  awk -v v="$v" '$1 == v' "$WORK/results" | python3 -c "
import statistics, sys
rows = [dict(kv.split('=') for kv in line.split()[1:]) for line in sys.stdin]
print('$v median', {k: statistics.median(float(r[k]) for r in rows) for k in rows[0]})"
done
