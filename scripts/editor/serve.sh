#!/usr/bin/env bash
# The offline editor for people without VS Code: code-server (installed by
# scripts/editor/install.sh, as for the editor tests) on 127.0.0.1, with the extension
# loaded from its development folder and a workspace opened. Prints the URL once the
# server answers; Ctrl-C (or TERM/HUP) stops it and everything it started.
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
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "serve.sh: port $port on 127.0.0.1 is taken (another serve.sh?): stop that or pass --port N" >&2
  exit 1
fi

# code-server starts an extension host, file watcher and terminals of its own: it runs in
# a process group of its own, and stopping this script stops the whole group.
setsid "$PASSLENS_NODE24_HOME/bin/node" "$PASSLENS_CODE_SERVER" \
  --user-data-dir "$state/user-data" --extensions-dir "$state/extensions" \
  --auth none --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override --vscode-option enable-smoke-test-driver \
  --bind-addr "127.0.0.1:$port" >"$state/code-server.log" 2>&1 &
server=$!
stop() {
  trap - INT TERM HUP EXIT
  kill -TERM -- "-$server" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 -- "-$server" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$server" 2>/dev/null || true
}
trap 'stop; echo; echo "offline editor stopped"; exit 0' INT TERM HUP
trap stop EXIT

for _ in $(seq 240); do
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$port/healthz" && break
  kill -0 "$server" 2>/dev/null || { cat "$state/code-server.log" >&2; echo "serve.sh: code-server exited (log above)" >&2; exit 1; }
  sleep 0.25
done
payload=$(printf '[["extensionDevelopmentPath","vscode-remote://127.0.0.1:%s%s"]]' "$port" "$extension")
url="http://127.0.0.1:$port/?folder=$(node -p 'encodeURIComponent(process.argv[1])' "$workspace")&payload=$(node -p 'encodeURIComponent(process.argv[1])' "$payload")"
echo "PassLens in the offline editor: $url"
echo "(Ctrl-C stops it; server log: $state/code-server.log)"
wait "$server"
