# Gateway spec for switchpoint (sourced by ../shared/bench/gateway/run.sh; see the header of run.sh).
# Two model groups pointing at the harness's mock upstream: one for non-streamed replies, one
# for SSE streams. A master key (checked on every request) and no request log, as in the LiteLLM spec (which
# disables spend and error logs); SWITCHPOINT_BENCH_WORKERS sets the worker count (default 1).
SWITCHPOINT_BIN=${SWITCHPOINT_BIN:-switchpoint}
SWITCHPOINT_WORKERS=${SWITCHPOINT_BENCH_WORKERS:-1}
# SWITCHPOINT_BENCH_LOGS=1 turns the durable request log on (SQLite in the scratch dir).
if [[ "${SWITCHPOINT_BENCH_LOGS:-0}" == 1 ]]; then
  SWITCHPOINT_LOGS="{url: 'sqlite:///$GW_WORK/logs.db', spool_dir: '$GW_WORK/spool'}"
else
  SWITCHPOINT_LOGS="{url: null}"
fi
cat >"$GW_WORK/switchpoint.yaml" <<YAML
logs: $SWITCHPOINT_LOGS
server:
  master_key: sk-bench-master-key
  workers: $SWITCHPOINT_WORKERS
models:
  - name: bench-chat
    provider: openai_compat
    model: gpt-4o-mini
    api_base: $UP_BASE
    api_key: sk-mock-upstream
    input_cost_per_mtok: 0.15
    output_cost_per_mtok: 0.60
  - name: bench-chat-stream
    provider: openai_compat
    model: gpt-4o-mini
    api_base: $UP_STREAM_BASE
    api_key: sk-mock-upstream
    input_cost_per_mtok: 0.15
    output_cost_per_mtok: 0.60
YAML
GATEWAY_NAME=${SWITCHPOINT_NAME:-switchpoint}
[[ "${SWITCHPOINT_BENCH_LOGS:-0}" == 1 ]] && GATEWAY_NAME=${SWITCHPOINT_NAME:-switchpoint-logging}
GATEWAY_VERSION="$($SWITCHPOINT_BIN --version 2>/dev/null || echo unknown), workers=$SWITCHPOINT_WORKERS"
GATEWAY_CMD="$SWITCHPOINT_BIN serve --config $GW_WORK/switchpoint.yaml --host 127.0.0.1 --port $GW_PORT"
GATEWAY_URL="http://127.0.0.1:$GW_PORT"
GATEWAY_MODEL=bench-chat
GATEWAY_MODEL_STREAM=bench-chat-stream
GATEWAY_API_KEY=sk-bench-master-key
GATEWAY_READY_TIMEOUT=30
