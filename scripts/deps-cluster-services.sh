#!/usr/bin/env bash
# Redis and PostgreSQL (Debian's redis-server and postgresql) for the multi-node tests, which start
# throwaway instances of them (scripts/throwaway-service.sh); nothing is started or enabled here. As
# root (CI, a fresh machine) missing packages are installed with apt; otherwise they are reported and
# the cluster tests skip, except under CI=true, where that is an error.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
    apt=(apt-get -o DPkg::Lock::Timeout=600)
    "${apt[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
elif [ "${CI:-}" = true ]; then
    echo "deps-cluster-services: ${missing[*]} missing and this is not root" >&2
    exit 1
else
    echo "deps-cluster-services: ${missing[*]} missing (install them with apt); the cluster tests skip" >&2
fi
