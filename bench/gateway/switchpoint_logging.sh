# The same gateway spec with the durable request log on (SQLite, batching writer), to measure its cost.
SWITCHPOINT_BENCH_LOGS=1
source "$(dirname "${BASH_SOURCE[0]}")/switchpoint.sh"
SWITCHPOINT_BENCH_LOGS=0
