#!/usr/bin/env bash
# Creates ./.venv with spotidance and its test extras, on a fresh Debian machine with Python >= 3.11.
# Used by scripts/demo.sh, scripts/test.sh and .ci/run. Safe to rerun: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "spotidance: python3 (>= 3.11) is needed; on Debian: apt-get install python3 python3-venv" >&2
  exit 2
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "spotidance: Python >= 3.11 is needed (found $("$PY" --version 2>&1))" >&2; exit 2; }

# Debian's python3 ships venv/ensurepip in a separate package.
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt-get update -qq && (apt-get install -y -qq "python${ver}-venv" || apt-get install -y -qq python3-venv)
  else
    echo "spotidance: the venv module is missing; on Debian: sudo apt-get install python3-venv" >&2
    exit 2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.spotidance-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # No system ffmpeg or libsndfile needed: the imageio-ffmpeg and soundfile wheels ship them.
  .venv/bin/python -m pip install --quiet -e '.[train,test,dask]'
  touch "$stamp"
fi
