#!/usr/bin/env bash
# Install what the demo needs into .venv, then start it on the bundled model at http://127.0.0.1:7860.
# Arguments go to app.py, e.g. scripts/demo.sh --model GSAI-ML/LLaDA-8B-Instruct --port 7861
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
