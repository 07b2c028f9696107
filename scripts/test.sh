#!/usr/bin/env bash
# Install facealbum with its test tools into .venv and run the lint and the tests.
# The browser tests drive Debian's chromium (Playwright cannot download its own here);
# the catalog's tests also run on a PostgreSQL server they start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
.venv/bin/ruff check facealbum tests bench scripts
.venv/bin/mypy facealbum
exec .venv/bin/python -m pytest "$@"
