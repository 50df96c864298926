#!/usr/bin/env bash
# One command for the demo: install, then start the Gradio app on http://127.0.0.1:7860 at once.
# Zoo models that resolve nowhere (no pinned Hub copy, nothing in zoo/local/) are trained from the
# embedded synthetic recipe in the background (zoo/background.py): progress shows on the page and
# here, each model joins the picker when it is installed, and a restarted demo resumes the build.
# MICROEXP_DEMO_QUICK=1 builds smaller, weaker models in a few minutes instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
