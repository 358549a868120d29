#!/usr/bin/env bash
# Regenerates docs/reproduction.md (numbers and plots) from a full micro build.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=training/passlens_training/configs/micro.yaml
bash scripts/build-micro.sh "$@"
.venv/bin/python -m passlens_training.micro.report --config "$CONFIG" --out docs/reproduction.md
