#!/usr/bin/env bash
# Build the separate, pinned reference environment with pyAudioAnalysis 0.3.14 (2022, the newest
# release). It needs numpy < 2, so it can never be a dependency of spotidance: it lives in its own
# venv outside the repository and is only used to regenerate
# tests/analyze/fixtures/pyaa_reference.json with tools/pyaa_reference/make_fixtures.py.
#
# pyAudioAnalysis's own requirements pull in hmmlearn, scikit-learn, plotly, imblearn, eyeD3, ...
# none of which the feature-extraction path uses, so we install it with --no-deps plus only the
# modules that ShortTermFeatures / MidTermFeatures / audioBasicIO / utilities import.
#
# Usage:  bash tools/pyaa_reference/build.sh [VENV_DIR]     (default: ~/.cache/spotidance/pyaa-ref)
# Then:   ~/.cache/spotidance/pyaa-ref/bin/python tools/pyaa_reference/make_fixtures.py
set -euo pipefail
VENV="${1:-${HOME}/.cache/spotidance/pyaa-ref}"
PY="${PYTHON:-python3.11}"
if [ ! -x "${VENV}/bin/python" ]; then
    "${PY}" -m venv "${VENV}"
fi
"${VENV}/bin/pip" install --quiet --upgrade pip
"${VENV}/bin/pip" install --quiet \
    "numpy==1.26.4" "scipy==1.13.1" "matplotlib==3.8.4" "tqdm==4.66.4" \
    "pydub==0.25.1" "eyeD3==0.9.7"
"${VENV}/bin/pip" install --quiet --no-deps "pyAudioAnalysis==0.3.14"
"${VENV}/bin/python" - <<'PYEOF'
import numpy
from pyAudioAnalysis import MidTermFeatures, ShortTermFeatures  # noqa: F401
print("pyAudioAnalysis reference env ready; numpy", numpy.__version__)
PYEOF
echo "${VENV}"
