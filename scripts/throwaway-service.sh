#!/usr/bin/env bash
# Starts or stops a throwaway Redis or PostgreSQL on 127.0.0.1 with all its files in DIR.
#
#   throwaway-service.sh redis start DIR PORT      throwaway-service.sh redis stop DIR
#   throwaway-service.sh postgres start DIR PORT   throwaway-service.sh postgres stop DIR
#
# Test settings, not production ones: Redis keeps nothing on disk; PostgreSQL skips fsync (the tests
# kill room-server nodes, never the machine, so the page cache keeps every commit). PostgreSQL refuses
# to run as root: as root, the cluster belongs to the `postgres` user and runs through runuser.
set -euo pipefail
kind=${1:?redis or postgres}; action=${2:?start or stop}; dir=${3:?directory}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_bin() {
    local found
    found=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
    [ -n "$found" ] || { echo "PostgreSQL is not installed (scripts/deps-cluster-services.sh)" >&2; exit 1; }
    echo "$found"
}

case "$kind/$action" in
redis/start)
    port=${4:?port}
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 100); do
        redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && exit 0
        sleep 0.05
    done
    echo "redis did not answer on port $port; see $dir/redis.log" >&2; exit 1 ;;
redis/stop)
    [ -f "$dir/redis.pid" ] || exit 0
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$dir/redis.pid" ;;
postgres/start)
    port=${4:?port}
    bin=$(pg_bin)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log"
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" >/dev/null ;;
postgres/stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null ;;
*)
    echo "usage: $0 redis|postgres start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
