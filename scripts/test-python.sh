#!/usr/bin/env bash
# Python tests: python-sandbox/ and training/.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=()
for d in python-sandbox/tests training/tests; do [ -d "$d" ] && dirs+=("$d"); done
exec .venv/bin/python -m pytest -q --import-mode=importlib "$@" "${dirs[@]}"
