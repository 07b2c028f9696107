#!/usr/bin/env bash
# Benchmark tools. face_recognition is installed without its dependencies because it
# asks for `dlib`, which compiles for many minutes; dlib-bin provides the same module.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e ".[bench]"
.venv/bin/pip install -q --no-deps "face_recognition>=1.2"
