#!/usr/bin/env bash
# Install facealbum into .venv, import the sample set and serve the album.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e .
export FACEALBUM_HOME="${FACEALBUM_HOME:-$PWD/facealbum-data}"
.venv/bin/facealbum import samples --set Sample
exec .venv/bin/facealbum serve "$@"
