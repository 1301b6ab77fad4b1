#!/usr/bin/env bash
# Your own labelled playlists -> report -> frames -> model. Needs the network.
# Deezer playlists are public (no account). For Spotify, put SPOTIPY_CLIENT_ID and
# SPOTIPY_CLIENT_SECRET in .env (see .env.example) and run `spotidance login` for playlists you
# own or collaborate on. Spotify's terms forbid training models on Spotify content: the audio
# collected here comes from Deezer previews; train only on audio you may use.
set -euo pipefail
PATH="$PWD/.venv/bin:$PATH"

spotidance collect "https://www.deezer.com/playlist/${TECHNO_PLAYLIST:?set TECHNO_PLAYLIST to a Deezer playlist id}" --label techno --out data
spotidance collect "https://www.deezer.com/playlist/${EDM_PLAYLIST:?set EDM_PLAYLIST to a Deezer playlist id}" --label edm --out data
spotidance eda data/techno.csv data/edm.csv --out report
spotidance prepare data/techno.csv data/edm.csv --out frames
spotidance train frames --model binary-1d --out model
