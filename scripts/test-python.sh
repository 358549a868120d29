#!/usr/bin/env bash
# Python tests: python-sandbox/ and training/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q "$@" python-sandbox/tests training/tests
