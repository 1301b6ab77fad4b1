#!/usr/bin/env bash
# A separate venv with Essentia (AGPL-3.0: never a dependency of spotidance, never in .venv), used
# only by tools/pyaa_reference/essentia_agreement.py to measure how well
# spotidance.analyze.beatport.essentia_bpm reproduces the table's 71-BPMessentia convention.
#
# Usage: bash tools/pyaa_reference/build_essentia.sh [VENV_DIR]   (default ~/.cache/spotidance/essentia-ref)
set -euo pipefail
VENV="${1:-${HOME}/.cache/spotidance/essentia-ref}"
PY="${PYTHON:-python3.11}"
[ -x "${VENV}/bin/python" ] || "${PY}" -m venv "${VENV}"
"${VENV}/bin/pip" install --quiet "essentia==2.1b6.dev1389" "numpy<2.3"
"${VENV}/bin/python" -c "import essentia, essentia.standard as es; print('essentia', essentia.__version__, es.RhythmExtractor, es.RhythmExtractor2013)"
echo "${VENV}"
