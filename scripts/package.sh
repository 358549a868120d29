#!/usr/bin/env bash
# Builds the .vsix (production bundle). vsce needs no network for this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
node esbuild.mjs --production
npx vsce package --no-update-package-json --allow-missing-repository --skip-license -o "passlens-$(node -p 'require("./package.json").version').vsix" "$@"
