#!/usr/bin/env bash
# Quickstart 2: set up, then run the test suite (offline; a few minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
exec .venv/bin/python -m pytest -q "$@"
