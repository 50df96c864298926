#!/usr/bin/env bash
# One command for the demo: install, make sure every zoo model resolves (Hub, else build the embedded
# synthetic-trained default offline, once), then start the Gradio app on http://127.0.0.1:7860.
# MICROEXP_DEMO_QUICK=1 builds smaller, weaker models in a few minutes instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=(--missing)
[ "${MICROEXP_DEMO_QUICK:-0}" = "1" ] && build+=(--quick)
.venv/bin/python -m zoo build "${build[@]}"
exec .venv/bin/python app.py "$@"
