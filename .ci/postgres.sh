#!/usr/bin/env bash
# Throwaway PostgreSQL for the test suite (CI runs this as root on Debian).
#
#   bash .ci/postgres.sh         install if missing, init + start on 127.0.0.1:55432, (re)create
#                                role b2sync with a fresh random password; the LAST line on
#                                stdout is `export B2SYNC_TEST_POSTGRES_URL=...` (for `eval`)
#   bash .ci/postgres.sh admin   (cluster running) (re)create the superuser role b2sync_admin
#                                with a fresh random password; the LAST line on stdout is
#                                `export B2SYNC_TEST_POSTGRES_ADMIN_URL=...` (tests that need a
#                                superuser: creating a BYPASSRLS role to see it refused)
#   bash .ci/postgres.sh stop    stop the cluster and delete its directory
#
# Idempotent: a second start reuses the running cluster and rotates the password.
# Everything but the export line goes to stderr.
set -euo pipefail

PORT="${B2SYNC_PG_PORT:-55432}"
BASE="${B2SYNC_PG_DIR:-${TMPDIR:-/tmp}/b2sync-pg}"
DATA="$BASE/data"
ROLE=b2sync
DB=b2sync
PG_BIN=

log() { echo "postgres.sh: $*" >&2; }

pg_bindir() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null \
        | sort -V | tail -n 1)
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
        echo "$dir"
    fi
}

as_postgres() { (cd / && runuser -u postgres -- "$@"); }

stop_cluster() {
    local bin
    bin=$(pg_bindir)
    if [[ -n "$bin" && -f "$DATA/postmaster.pid" ]]; then
        as_postgres "$bin/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi
    rm -rf "$BASE"
    log "stopped; removed $BASE"
}

install_server() {
    if [[ -n "$(pg_bindir)" ]]; then
        return
    fi
    log "PostgreSQL server binaries missing; installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    if [[ -z "$(pg_bindir)" ]]; then
        log "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"
        exit 1
    fi
}

ensure_user() {
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --create-home --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
}

start_cluster() {
    local bin=$1
    mkdir -p "$BASE"
    chown postgres: "$BASE"
    chmod 700 "$BASE"
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        as_postgres "$bin/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C \
            --auth-local=peer --auth-host=scram-sha-256 >&2
    fi
    if as_postgres "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        log "cluster in $DATA already running"
        return
    fi
    as_postgres "$bin/pg_ctl" -D "$DATA" -w -t 60 -l "$BASE/server.log" \
        -o "-k $BASE -c listen_addresses=127.0.0.1 -p $PORT -c fsync=off" start >&2 || {
        log "server failed to start; its log follows"
        cat "$BASE/server.log" >&2
        exit 1
    }
}

psql_admin() {
    as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BASE" -p "$PORT" -U postgres -d postgres "$@"
}

create_role() {
    local password=$1
    psql_admin -v role="$ROLE" -v pw="$password" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN CREATEDB PASSWORD :'pw';
SQL
    psql_admin -v role="$ROLE" -v db="$DB" >&2 <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

main() {
    if [[ "${1:-start}" == "stop" ]]; then
        stop_cluster
        return
    fi
    if [[ "${1:-start}" == "admin" ]]; then
        PG_BIN=$(pg_bindir)
        local password
        password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
        psql_admin -v role="${ROLE}_admin" -v pw="$password" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN SUPERUSER', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN SUPERUSER PASSWORD :'pw';
SQL
        echo "export B2SYNC_TEST_POSTGRES_ADMIN_URL=postgresql://${ROLE}_admin:$password@127.0.0.1:$PORT/$DB"
        return
    fi
    if [[ "$(id -u)" != 0 ]]; then
        log "run as root (it installs packages and switches to the postgres user)"
        exit 1
    fi
    install_server
    ensure_user
    local bin password
    bin=$(pg_bindir)
    PG_BIN=$bin
    start_cluster "$bin"
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    create_role "$password"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, role $ROLE"
    echo "export B2SYNC_TEST_POSTGRES_URL=postgresql://$ROLE:$password@127.0.0.1:$PORT/$DB"
}

main "$@"
