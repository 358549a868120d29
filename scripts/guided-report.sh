#!/usr/bin/env bash
# Regenerates the measured section of docs/guided-generation.md, docs/guided/results.json and
# docs/guided/pass-at-1-vs-tokens.png from a built micro world (bash scripts/build-micro.sh --ci):
# guided search's default chosen on the validation families, then run once on the test families.
#   bash scripts/guided-report.sh [--micro-dir DIR] [--width N] [--draws N]   (DIR default: $PASSLENS_MICRO_DIR or .cache/micro/ci)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec nice .venv/bin/python -m passlens_training.evaluate.guided_report --micro-dir "${PASSLENS_MICRO_DIR:-.cache/micro/ci}" "$@"
