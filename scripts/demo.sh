#!/usr/bin/env bash
# One command for the demo: install, make sure every zoo model resolves (Hub, else build the embedded
# synthetic-trained default offline), then start the Gradio app on http://127.0.0.1:7860.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m zoo build --missing
exec .venv/bin/python app.py "$@"
