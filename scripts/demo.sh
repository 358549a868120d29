#!/usr/bin/env bash
# README's first command: the main job on an embedded default, offline, CPU only.
# Until the micro world lands this is a smoke run of the pieces that exist.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/cli.js version
.venv/bin/passlens-train --help
