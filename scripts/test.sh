#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# pytest exits 5 when it collects no test: with set -e that fails the run, as it should.
exec .venv/bin/python -m pytest tests -q "$@"
