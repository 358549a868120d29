#!/usr/bin/env bash
# Builds a platform-specific .vsix (production bundle); vsce needs no network for this.
# Target: PASSLENS_VSIX_TARGET or the first argument (default linux-x64; any vsce target
# whose onnxruntime-node binaries ship in the package: linux-x64, linux-arm64,
# darwin-arm64, win32-x64, win32-arm64). Only that platform's onnxruntime binaries are
# packed. Output: passlens-<version>.vsix; extra arguments go to vsce. README links stay
# relative (the repository URL is not public, so there is no base to rewrite them to).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-${PASSLENS_VSIX_TARGET:-linux-x64}}
[ $# -gt 0 ] && shift
ort_bin=node_modules/onnxruntime-node/bin/napi-v6
platform_dir="$ort_bin/${target%-*}/${target#*-}"
bash scripts/setup.sh >/dev/null
if [ ! -d "$platform_dir" ]; then
  echo "no onnxruntime-node binaries for target '$target' (looked in $platform_dir)" >&2
  echo "targets available: $(cd "$ort_bin" && ls -d */* | tr / - | xargs)" >&2
  exit 1
fi
node esbuild.mjs --production

# .vscodeignore plus every other platform's onnxruntime binaries.
ignore_file=$(mktemp)
trap 'rm -f "$ignore_file"' EXIT
cat .vscodeignore >"$ignore_file"
for dir in "$ort_bin"/*/*; do
  [ "$dir" = "$platform_dir" ] || echo "$dir/**" >>"$ignore_file"
done

out="passlens-$(node -p 'require("./package.json").version').vsix"
npx vsce package --target "$target" --ignoreFile "$ignore_file" --no-update-package-json \
  --allow-missing-repository --no-rewrite-relative-links --skip-license -o "$out" "$@"
echo "$out ($target): $(du -h "$out" | cut -f1)"
