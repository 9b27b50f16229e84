#!/usr/bin/env bash
# What the JavaScript and browser tests need beyond the Python virtualenv: Node and npm, Debian's
# chromium (never a downloaded browser build), the npm packages pinned by js/package-lock.json, and the
# live web page's bundle built from them into mesh_tools/web/static/ (git-ignored).
# As root (CI, a fresh machine) missing system packages are installed with apt; otherwise they are
# reported and the tests that need them skip, except under CI=true, where a missing one is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends "${missing[@]}"
    elif [ "${CI:-}" = true ]; then
        echo "install-test-deps: missing ${missing[*]} and not root: cannot install them" >&2
        exit 1
    else
        echo "install-test-deps: missing ${missing[*]} (install with apt as root); their tests will skip" >&2
    fi
fi

if command -v npm >/dev/null; then
    # npm ci wipes and reinstalls: only when the lockfile changed since the last install.
    if [ ! -f js/node_modules/.package-lock.json ] || [ js/package-lock.json -nt js/node_modules/.package-lock.json ]; then
        (cd js && npm ci --no-audit --no-fund --loglevel=error)
    fi
    (cd js && npm run --silent build)
fi
