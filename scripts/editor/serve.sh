#!/usr/bin/env bash
# The offline editor for people without VS Code: code-server (installed by
# scripts/editor/install.sh, as for the editor tests) on 127.0.0.1, with the extension
# loaded from its development folder and a workspace opened. Prints the URL; Ctrl-C stops it.
#   bash scripts/editor/serve.sh --extension DIR --workspace DIR [--port N]
# The extension comes in through the workbench URL's payload (extensionDevelopmentPath),
# as in the editor tests: code-server has no --extensionDevelopmentPath flag, and the
# payload is honoured only with the smoke-test driver option on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
extension="" workspace="" port=8765
while [ $# -gt 0 ]; do
  case "$1" in
    --extension) extension=$(cd "$2" && pwd); shift 2 ;;
    --workspace) workspace=$(cd "$2" && pwd); shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "usage: bash scripts/editor/serve.sh --extension DIR --workspace DIR [--port N]" >&2; exit 2 ;;
  esac
done
[ -n "$extension" ] && [ -n "$workspace" ] || { echo "serve.sh: --extension and --workspace are required" >&2; exit 2; }
bash "$here/install.sh"
source "$here/env.sh"
state=$(cd "$here/../.." && pwd)/.cache/editor-serve
mkdir -p "$state"
payload=$(printf '[["extensionDevelopmentPath","vscode-remote://127.0.0.1:%s%s"]]' "$port" "$extension")
url="http://127.0.0.1:$port/?folder=$(node -p 'encodeURIComponent(process.argv[1])' "$workspace")&payload=$(node -p 'encodeURIComponent(process.argv[1])' "$payload")"
echo "PassLens in the offline editor: $url"
exec "$PASSLENS_NODE24_HOME/bin/node" "$PASSLENS_CODE_SERVER" \
  --user-data-dir "$state/user-data" --extensions-dir "$state/extensions" \
  --auth none --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override --vscode-option enable-smoke-test-driver \
  --bind-addr "127.0.0.1:$port"
