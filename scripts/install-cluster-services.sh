#!/usr/bin/env bash
# Installs the engines the multi-node tests run against: Debian's redis-server and postgresql.
# Nothing is started or enabled here: the tests start throwaway instances (scripts/throwaway-service.sh).
set -euo pipefail

have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
have_postgres || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing ${missing[*]}: run this script as root, or install them with apt" >&2
    exit 1
fi
apt=(apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update -qq
# The postgresql package would start a cluster of its own at boot; policy-rc.d keeps services stopped.
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
