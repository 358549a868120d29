#!/usr/bin/env bash
# Builds the micro world, generator and critic (cached: a rerun only redoes what changed).
#   bash scripts/build-micro.sh            # full config (<= 15 min on 2 cores)
#   bash scripts/build-micro.sh --ci       # CI config (<= 5 min on 2 cores; ~4 min cold)
# Extra arguments go to `python -m passlens_training.micro.build` (e.g. --check, --until).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=training/passlens_training/configs/micro.yaml
if [ "${1:-}" = "--ci" ]; then CONFIG=training/passlens_training/configs/micro-ci.yaml; shift; fi
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec nice .venv/bin/python -m passlens_training.micro.build --config "$CONFIG" "$@"
