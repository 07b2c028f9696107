#!/usr/bin/env bash
# Install facealbum into .venv, import the sample set once and serve the album.
# Run again, it starts at once: it installs again only when pyproject.toml changed, and
# never imports the samples twice (a mark in the album's home says they are in).
set -euo pipefail
cd "$(dirname "$0")/.."
export FACEALBUM_HOME="${FACEALBUM_HOME:-$PWD/facealbum-data}"
installed=.venv/.facealbum-installed
if [ ! -f "$installed" ] || [ pyproject.toml -nt "$installed" ]; then
  echo "== Installing facealbum and its libraries into .venv (about a minute the first time)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -e .  # not -q: each library as it comes, with a progress bar
  touch "$installed"
fi
imported="$FACEALBUM_HOME/.samples-imported"
if [ ! -f "$imported" ]; then
  echo "== Importing the sample set (samples/) into the set \"Sample\""
  .venv/bin/facealbum import samples --set Sample
  touch "$imported"
fi
echo "== Starting the album (Ctrl-C stops it)"
exec .venv/bin/facealbum serve "$@"
