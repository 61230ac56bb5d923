#!/usr/bin/env bash
# Create .venv and install what llada-demo needs. Usage: scripts/setup.sh [dev]
# The torch pin is a CPU build on our development and CI machines; override with TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
if [ "${1:-}" = dev ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  # Debian packages the tests use: Chromium for the browser tests, the KJV text for the corpus tests.
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v bible >/dev/null || missing+=(bible-kjv)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "note: install ${missing[*]} (Debian packages) for the browser and corpus tests" >&2
    fi
  fi
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi
# the package itself, editable: tests and benchmarks import it from this checkout
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
