#!/usr/bin/env bash
# Node, npm and the npm packages (pinned by tests/js_hostile/package-lock.json) that the JS-Yjs hostile
# writer test needs. As root (CI, a fresh machine) missing system packages are installed with apt;
# otherwise they are reported and the test skips, except under CI=true, where that is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends nodejs npm
    elif [ "${CI:-}" = true ]; then
        echo "deps-node-yjs: node and npm are missing and this is not root" >&2
        exit 1
    else
        echo "deps-node-yjs: node and npm are missing (install them with apt); the JS tests skip" >&2
        exit 0
    fi
fi

packages=tests/js_hostile
# npm ci wipes and reinstalls: only when the lockfile changed since the last install.
if [ ! -f $packages/node_modules/.package-lock.json ] \
    || [ $packages/package-lock.json -nt $packages/node_modules/.package-lock.json ]; then
    (cd $packages && npm ci --no-audit --no-fund --loglevel=error)
fi
