#!/usr/bin/env bash
# The plain Yjs client the text tests edit beside (tests/yjs): Node, npm, and the npm packages pinned by
# tests/yjs/package-lock.json. As root (CI, a fresh machine) missing Node/npm are installed with apt;
# otherwise they are reported and the tests that need them skip, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends nodejs npm
    elif [ "${CI:-}" = true ]; then
        echo "deps-yjs: Node and npm are missing and this is not root: cannot install them" >&2
        exit 1
    else
        echo "deps-yjs: Node and npm are missing (install them with apt as root); the Yjs tests will skip" >&2
        exit 0
    fi
fi

# npm ci wipes and reinstalls: only when the lockfile changed since the last install.
if [ ! -f tests/yjs/node_modules/.package-lock.json ] \
    || [ tests/yjs/package-lock.json -nt tests/yjs/node_modules/.package-lock.json ]; then
    (cd tests/yjs && npm ci --no-audit --no-fund --loglevel=error)
fi
