#!/usr/bin/env bash
# Set everything up and run the main job:
#   1. simulate three two-hour shows of ~30k viewers, ingest them, write the post-show review (复盘) as HTML and Excel,
#      analyse the A/B and switchback experiments and what drove conversion;
#   2. start the server, replay a third show to it at 60× so the live big screen (直播大屏) fills up, and print
#      the URL and a viewer token. With a terminal attached the server keeps running until Ctrl-C.
# LIVEOPS_DEMO_DIR (default demo), LIVEOPS_DEMO_PORT (default 8000), LIVEOPS_DEMO_SPEED (default 60),
# LIVEOPS_DEMO_LIVE=0 skips part 2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${LIVEOPS_DEMO_DIR:-demo}
PORT=${LIVEOPS_DEMO_PORT:-8000}
SPEED=${LIVEOPS_DEMO_SPEED:-60}
mkdir -p "$OUT"
rm -f "$OUT"/demo.duckdb* "$OUT"/live.duckdb*

# -- 1. the review ----------------------------------------------------------------------------
uv run liveops simulate --out "$OUT/show.parquet" --viewers 30000 --minutes 120 --seed 7 --rooms 1 --sessions 3 --ab-from-session 1
uv run liveops ingest "$OUT/show.parquet" --db "$OUT/demo.duckdb"
uv run liveops products import "$OUT/show.parquet.products.csv" --db "$OUT/demo.duckdb"
uv run liveops experiment import "$OUT/show.parquet.schedule.csv" --db "$OUT/demo.duckdb"
uv run liveops metrics --db "$OUT/demo.duckdb"
uv run liveops funnel --db "$OUT/demo.duckdb"
uv run liveops report --db "$OUT/demo.duckdb" --out "$OUT/review.html" --xlsx "$OUT/review.xlsx"
# experiments: the A/B test (per viewer, CUPED on the first show) and the switchback (per time slice)
uv run liveops experiment list --db "$OUT/demo.duckdb"
uv run liveops experiment analyze --db "$OUT/demo.duckdb" --experiment checkout_flow_v2
uv run liveops experiment analyze --db "$OUT/demo.duckdb" --experiment talk_track_v2
uv run liveops experiment power --baseline 0.032 --mde 0.1 --daily-units 30000
uv run liveops drivers --db "$OUT/demo.duckdb" --room room01
# compliance: what the scanner found in the shows, the risk matrix, the audit chain, an evidence pack
uv run liveops compliance hits --db "$OUT/demo.duckdb" --severity block | head -20 || true
# 人工复核: a reviewer dismisses the first of the model's review flags (`liveops compliance labels` would then
# write the verdicts as the room's labels, which the model trains on); per rule, what reviewers found
HIT=$(uv run liveops compliance hits --db "$OUT/demo.duckdb" --severity review --format json | uv run python -c "import json,sys; h=[x['hit_id'] for x in json.load(sys.stdin) if x['rule'].startswith('model.')]; print(h[0] if h else '')")
if [ -n "$HIT" ]; then uv run liveops compliance verdict "$HIT" --dismiss --reviewer demo --note "演示 demo" --db "$OUT/demo.duckdb"; fi
uv run liveops compliance verdicts --db "$OUT/demo.duckdb"
uv run liveops risk --db "$OUT/demo.duckdb"
uv run liveops audit verify --db "$OUT/demo.duckdb"
SID1=$(uv run liveops sessions --db "$OUT/demo.duckdb" --format json | uv run python -c "import json,sys; print(json.load(sys.stdin)[0]['session_id'])")
uv run liveops evidence export --db "$OUT/demo.duckdb" --session "$SID1" --out "$OUT/evidence"
uv run liveops check "这款面霜是全网最低价，用了能治疗湿疹，想要的加威信" || true
echo
echo "复盘报告 Review: $(realpath "$OUT/review.html")"
echo "Excel:          $(realpath "$OUT/review.xlsx")"
echo "存储 Store:      $(realpath "$OUT/demo.duckdb")  (try: uv run liveops sources --db $OUT/demo.duckdb)"
[ "${LIVEOPS_DEMO_LIVE:-1}" = "0" ] && exit 0

# -- 2. the live room -------------------------------------------------------------------------
LIVE="$OUT/live.duckdb"
uv run liveops simulate --out "$OUT/live_show.parquet" --viewers 30000 --minutes 120 --seed 8 --quiet
uv run liveops products import "$OUT/live_show.parquet.products.csv" --db "$LIVE" > /dev/null
uv run liveops experiment import "$OUT/live_show.parquet.schedule.csv" --db "$LIVE" 2> /dev/null
INGEST=$(uv run liveops token create --role ingest --name demo-replay --db "$LIVE" 2> /dev/null)
VIEWER=$(uv run liveops token create --role viewer --name demo-screen --db "$LIVE" 2> /dev/null)
uv run liveops token create --role admin --name demo-admin --db "$LIVE" > /dev/null 2>&1
uv run liveops serve --db "$LIVE" --port "$PORT" &
SERVER=$!
trap 'kill $SERVER 2> /dev/null || true; wait $SERVER 2> /dev/null || true' EXIT
for _ in $(seq 1 100); do
  uv run python -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$PORT/healthz').status_code != 200)" 2> /dev/null && break
  sleep 0.3
done
SID=$(uv run python -c "import pyarrow.parquet as pq; print(pq.read_table('$OUT/live_show.parquet', columns=['session_id']).column(0)[0])")
echo
echo "直播大屏 Big screen: http://127.0.0.1:$PORT/live/$SID"
echo "观看令牌 Viewer token (paste it once when the page asks): $VIEWER"
echo "回放 ${SPEED}× … replaying the show to the server now"
uv run liveops replay "$OUT/live_show.parquet" --url "http://127.0.0.1:$PORT" --token "$INGEST" --speed "$SPEED"
echo "复盘页 Review page: http://127.0.0.1:$PORT/review/$SID   ·   场次 Sessions: http://127.0.0.1:$PORT/   ·   实验 Experiments: http://127.0.0.1:$PORT/experiments"
if [ -t 0 ]; then
  echo "服务运行中，按 Ctrl-C 停止 The server keeps running: press Ctrl-C to stop it."
  wait $SERVER
fi
