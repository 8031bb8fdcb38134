#!/usr/bin/env bash
# A PostgreSQL + pgvector server on 127.0.0.1 for the test suite and the benchmarks.
#
#   scripts/postgres.sh start   install what is missing, create the cluster, start it, print its URL
#   scripts/postgres.sh url     print the URL (postgresql://ragpg@127.0.0.1:54329/rag)
#   scripts/postgres.sh stop    stop it (the cluster stays in $RAG_PG_DIR for a quick restart)
#
# Every step is idempotent. The server is Debian's PostgreSQL 15; Debian 12 ships no pgvector
# package, so pgvector is built (about 20 s) from Debian's own source package — the one the next
# release ships — fetched through the machine's configured Debian mirror with a private apt state
# (the system's apt sources are left as they are). PostgreSQL refuses to run as root: as root, the
# cluster belongs to a system user, ragpg. Local connections are trusted: it listens on 127.0.0.1 only.
set -euo pipefail

PG_VERSION=15
BIN=/usr/lib/postgresql/$PG_VERSION/bin
DIR=${RAG_PG_DIR:-/tmp/local-rag-postgres}
PORT=${RAG_PG_PORT:-54329}
USER_NAME=ragpg
DB=rag
URL="postgresql://$USER_NAME@127.0.0.1:$PORT/$DB"
PGVECTOR_SUITE=trixie  # the Debian release whose pgvector source package is built

say() { echo "postgres.sh: $*" >&2; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$USER_NAME" -- "$@"; else "$@"; fi
}

need_root() {
    [ "$(id -u)" = 0 ] || { say "$1 is missing and installing it needs root (apt-get); run this as root once"; exit 1; }
}

install_postgres() {
    [ -x "$BIN/postgres" ] && return
    need_root "PostgreSQL $PG_VERSION"
    say "installing PostgreSQL $PG_VERSION (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_VERSION" >/dev/null
}

install_pgvector() {
    [ -f "/usr/share/postgresql/$PG_VERSION/extension/vector.control" ] && return
    need_root "pgvector"
    say "building pgvector from Debian's source package ($PGVECTOR_SUITE)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$PG_VERSION" make gcc >/dev/null
    local work mirror
    work=$(mktemp -d)
    mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' | grep -v security | head -1)
    [ -n "$mirror" ] || { say "no Debian mirror configured in apt's sources"; exit 1; }
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $PGVECTOR_SUITE main" >"$work/sources.list"
    mkdir -p "$work/lists/partial"
    local apt=(apt-get -qq -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
               -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
    "${apt[@]}" update
    (cd "$work" && "${apt[@]}" source --download-only pgvector)  # checked against the signed index
    tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
    make -s -C "$work"/pgvector-*/ PG_CONFIG="$BIN/pg_config" >/dev/null
    make -s -C "$work"/pgvector-*/ PG_CONFIG="$BIN/pg_config" install >/dev/null
    rm -rf "$work"
}

running() {
    [ -f "$DIR/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1
}

start() {
    install_postgres
    install_pgvector
    if [ "$(id -u)" = 0 ] && ! id "$USER_NAME" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
    fi
    if [ ! -f "$DIR/PG_VERSION" ]; then
        mkdir -p "$DIR"
        [ "$(id -u)" = 0 ] && chown "$USER_NAME" "$DIR"
        chmod 700 "$DIR"
        as_owner "$BIN/initdb" -D "$DIR" -U "$USER_NAME" -A trust -E UTF8 --locale C.UTF-8 >/dev/null
    fi
    if ! running; then
        # maintenance_work_mem: HNSW builds in memory (100k 384-d vectors need ~200 MB)
        as_owner "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 start -o \
            "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c maintenance_work_mem=512MB -c shared_buffers=256MB" >/dev/null \
            || { say "the server did not start; its log:"; tail -20 "$DIR/server.log" >&2; exit 1; }
    fi
    local psql=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -v ON_ERROR_STOP=1 -qtA)
    if [ "$(as_owner "${psql[@]}" -d postgres -c "select 1 from pg_database where datname = '$DB'")" != 1 ]; then
        as_owner "${psql[@]}" -d postgres -c "create database $DB"
    fi
    as_owner "${psql[@]}" -d "$DB" -c "create extension if not exists vector" 2>/dev/null
    echo "$URL"
}

stop() {
    if running; then
        as_owner "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) echo "$URL" ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
