#!/usr/bin/env bash
# The three-class 2D CNN (big room house / drum and bass / techno) on synthetic audio, offline.
# Run from the repository root after `bash scripts/setup-env.sh`.
set -euo pipefail
PATH="$PWD/.venv/bin:$PATH"
out=${1:-three-genres}

spotidance synth "$out/audio" --genres edm,dnb,techno --per-genre 20
spotidance eda "$out/audio/edm.csv" "$out/audio/dnb.csv" "$out/audio/techno.csv" --out "$out/report"
spotidance prepare "$out/audio/edm.csv" "$out/audio/dnb.csv" "$out/audio/techno.csv" --out "$out/frames"
spotidance train "$out/frames" --model multiclass-2d --out "$out/model" --epochs 10
spotidance synth "$out/new" --genres edm,dnb,techno --per-genre 2 --seed 7
spotidance classify "$out/model" "$out/new"
