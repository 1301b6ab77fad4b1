#!/usr/bin/env bash
# Quickstart 1: set up, then run the whole pipeline offline on synthetic genres (no credentials).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
exec .venv/bin/spotidance demo --out "${1:-spotidance-demo}"
