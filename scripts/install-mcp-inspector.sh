#!/bin/sh
# Installs the MCP Inspector CLI (pinned by scripts/mcp-inspector/package-lock.json) for the MCP tests.
# 1.0.3 is the newest Inspector that runs on Debian's Node 20 (later ones need Node 22).
set -eu
here=$(dirname "$0")/mcp-inspector
if ! command -v npm >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 install -y nodejs npm
fi
if [ ! -x "$here/node_modules/.bin/mcp-inspector" ] || [ "$here/package-lock.json" -nt "$here/node_modules" ]; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi
