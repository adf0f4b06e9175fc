#!/usr/bin/env bash
# The figures in benchmarks/README.md: qa bench over docs/ (with the 10k/100k/1M scale runs) and over the seeds.
# About 20 minutes on 2 cores, most of it building the 1M-vector indexes. Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results}
mkdir -p "$out"
export HF_HUB_OFFLINE=1 QA_HOME=$(mktemp -d)
.venv/bin/qa bench --docs docs --queries 100 --scale 10000 --scale 100000 --scale 1000000 --json "$out/docs.json"
.venv/bin/qa bench --docs ../shared/seeds --queries 100 --json "$out/seeds.json"
.venv/bin/python benchmarks/web_latency.py --screenshots benchmarks/screenshots --json "$out/web.json"
.venv/bin/python benchmarks/web_concurrency.py --askers 50 --each 8 --json "$out/web-concurrency.json"
