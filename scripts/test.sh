#!/usr/bin/env bash
# Install facealbum with its test tools into .venv and run the lint and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
.venv/bin/ruff check facealbum tests bench
exec .venv/bin/python -m pytest "$@"
