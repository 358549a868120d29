#!/usr/bin/env bash
# One short CUDA check of the training side, sized for a lent GPU machine (at most 9.5 min):
#   1. value-head training steps on a Phi-4-mini-shaped model (tokens/s, peak memory);
#   2. the micro-ci build end to end on CUDA (generator, rollouts and critic on the GPU), with --check;
#   3. the training tests with a GPU present (score.py, train.py and export pick CUDA when they see it);
#   4. with PASSLENS_VLLM_BENCH=1 and vLLM installed: bench_vllm_rollouts.py (rollouts/s, prefix caching on/off).
# Needs torch with CUDA, transformers, accelerate, onnx, onnxruntime, tokenizers, matplotlib, pyyaml
# already installed; runs from the repo root; logs go to $OUT (default: ./gpu-check).
#   bash benchmarks/gpu/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/training${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
status=0
step() {  # step NAME SECONDS CMD...: runs CMD under a time limit, logs to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  echo "=== $name (limit ${limit}s): $*"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  echo "=== $name: exit $rc after $((SECONDS - start)) s"
  [ "$rc" = 0 ] || status=1
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch, transformers, accelerate, onnxruntime; print("torch", torch.__version__, "cuda", torch.version.cuda, "| transformers", transformers.__version__, "| accelerate", accelerate.__version__, "| onnxruntime", onnxruntime.__version__)'
  nproc; } 2>&1 | tee "$OUT/env.txt"

step phi4mini-b4 100 python3 benchmarks/gpu/train_step_phi4mini.py --steps 6 --batch-size 4 --seq-len 2048
step phi4mini-b16-ckpt 100 python3 benchmarks/gpu/train_step_phi4mini.py --steps 4 --batch-size 16 --seq-len 2048 --gradient-checkpointing

work=/tmp/micro-ci-cuda
python3 - "$work" <<'EOF'
import sys, yaml
cfg = yaml.safe_load(open("training/passlens_training/configs/micro-ci.yaml"))
cfg["micro"]["work_dir"] = sys.argv[1]
cfg["micro"]["generator"].update(device="cuda", threads=8)
# The lent GPU machine has no bubblewrap or firejail: its labels come from the judge's weak
# isolation, allowed explicitly (a throw-away machine that reaches nothing outside).
cfg["rollouts"].update(device="cuda", judge_workers=8, allow_weak_isolation=True)
yaml.safe_dump(cfg, open(sys.argv[1] + ".yaml", "w"))
EOF
step micro-ci-cuda 240 python3 -m passlens_training.micro.build --config "$work.yaml" --check --no-progress
cp "$work/timings.json" "$OUT/micro-timings.json" 2>/dev/null
cp "$work/evaluation/metrics.json" "$OUT/micro-metrics.json" 2>/dev/null

step pytest-training 120 python3 -m pytest -q -p no:cacheprovider --durations=10 training/tests \
  --ignore=training/tests/test_micro_pipeline.py

# 4. (opt-in, about 5 more minutes: PASSLENS_VLLM_BENCH=1) vLLM rollouts/s with and without prefix caching.
if [ "${PASSLENS_VLLM_BENCH:-0}" = 1 ]; then
  if python3 -c 'import vllm' 2>/dev/null; then
    step vllm-rollouts 330 python3 benchmarks/gpu/bench_vllm_rollouts.py --problems 32 --max-new-tokens 256
  else
    echo "=== vllm-rollouts: vLLM is not installed on this machine; nothing measured"
  fi
fi
exit $status
