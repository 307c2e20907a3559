#!/usr/bin/env bash
# Set everything up and run every test (unit, hypothesis, Spark conformance, headless-browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
uv run ruff check src tests benchmarks
uv run pytest -q -p no:cacheprovider "$@"
