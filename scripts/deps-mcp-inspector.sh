#!/usr/bin/env bash
# The MCP Inspector CLI (npm @modelcontextprotocol/inspector, pinned by scripts/mcp-inspector's
# package-lock.json) that tests/tools/test_mcp_inspector.py drives against `mesh-tools mcp`. 1.0.3 is the
# newest Inspector that runs on Debian's Node 20 (later ones need Node 22). As root a missing npm is
# installed with apt; otherwise the Inspector test skips, except under CI=true, where that is an error.
set -euo pipefail
here="$(dirname "$0")/mcp-inspector"

if ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt=(apt-get -o DPkg::Lock::Timeout=600)
        "${apt[@]}" update -qq
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends nodejs npm
    elif [ "${CI:-}" = true ]; then
        echo "deps-mcp-inspector: npm missing and this is not root" >&2
        exit 1
    else
        echo "deps-mcp-inspector: npm missing (install nodejs and npm); the Inspector test skips" >&2
        exit 0
    fi
fi
if [ ! -x "$here/node_modules/.bin/mcp-inspector" ] || [ "$here/package-lock.json" -nt "$here/node_modules" ]; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi
