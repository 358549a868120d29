#!/usr/bin/env bash
# Regenerates docs/reproduction.md (numbers, plots, seeds tables) from full micro builds:
# seed 0 in .cache/micro/full (the demo's models) and each other seed in its own folder.
# The page reports the untouched test families over every seed (mean ± sd): keep >= 3.
#   bash scripts/reproduce-micro.sh              # seeds 0, 1 and 2 (each build ~15 min on 2 idle cores; cached)
#   bash scripts/reproduce-micro.sh --ci         # the CI config instead (each build ~10 min on 2 idle cores)
#   SEEDS="0 1 2 3 4" bash scripts/reproduce-micro.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=training/passlens_training/configs/micro.yaml
SEED0_DIR=.cache/micro/full
OTHER_PREFIX=.cache/micro/full-seed
if [ "${1:-}" = "--ci" ]; then
  CONFIG=training/passlens_training/configs/micro-ci.yaml
  SEED0_DIR=.cache/micro/ci
  OTHER_PREFIX=.cache/micro/ci-seed
fi
SEEDS=${SEEDS:-0 1 2}
[ -x .venv/bin/python ] || bash scripts/setup.sh
others=()
for seed in $SEEDS; do
  if [ "$seed" = 0 ]; then
    nice .venv/bin/python -m passlens_training.micro.build --config "$CONFIG" --work-dir "$SEED0_DIR"
  else
    work=$OTHER_PREFIX$seed
    nice .venv/bin/python -m passlens_training.micro.build --config "$CONFIG" --seed "$seed" --work-dir "$work"
    others+=(--other-seed "$seed=$work")
  fi
done
.venv/bin/python -m passlens_training.micro.report --config "$CONFIG" --work-dir "$SEED0_DIR" --out docs/reproduction.md "${others[@]}"
