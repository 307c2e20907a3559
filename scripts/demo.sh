#!/usr/bin/env bash
# Set everything up and run the main job: simulate a two-hour show of ~30k viewers, ingest it,
# write the post-show review (复盘) as HTML and Excel, and say where they are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${LIVEOPS_DEMO_DIR:-demo}
mkdir -p "$OUT"
rm -f "$OUT/demo.duckdb" "$OUT/demo.duckdb.deadletter.jsonl"
uv run liveops simulate --out "$OUT/show.parquet" --viewers 30000 --minutes 120 --seed 7 --rooms 1 --sessions 2
uv run liveops ingest "$OUT/show.parquet" --db "$OUT/demo.duckdb"
uv run liveops products import "$OUT/show.parquet.products.csv" --db "$OUT/demo.duckdb"
uv run liveops metrics --db "$OUT/demo.duckdb"
uv run liveops funnel --db "$OUT/demo.duckdb"
uv run liveops report --db "$OUT/demo.duckdb" --out "$OUT/review.html" --xlsx "$OUT/review.xlsx"
echo
echo "复盘报告 Review: $(realpath "$OUT/review.html")"
echo "Excel:          $(realpath "$OUT/review.xlsx")"
echo "存储 Store:      $(realpath "$OUT/demo.duckdb")  (try: uv run liveops sources --db $OUT/demo.duckdb)"
