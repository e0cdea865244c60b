#!/usr/bin/env bash
# `make run-postgres`: a local PostgreSQL cluster (Debian's postgresql package) in
# .regflow-pg/ and two `regflow serve` replicas on it (ports PORT1=8000 and PORT2=8001, the
# cluster on PGPORT=5433). Ctrl+C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ]; then
  echo "run-postgres: install PostgreSQL first: apt-get install -y postgresql" >&2
  exit 2
fi
PGDIR=$PWD/.regflow-pg
PGPORT=${PGPORT:-5433}
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi

mkdir -p "$PGDIR"
if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDIR"
  "${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
fi
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
  -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
"${AS[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres regflow 2>/dev/null || true

export DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/regflow"
# the replicas share one signing key: a link mailed by one verifies through the other
if [ ! -f .regflow/pg-token-secret ]; then
  mkdir -p .regflow && (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' \
    > .regflow/pg-token-secret)
fi
TOKEN_SECRET=$(cat .regflow/pg-token-secret)
export TOKEN_SECRET

.venv/bin/regflow migrate
pids=()
stop() {
  trap - EXIT INT TERM
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -w stop >/dev/null || true
}
trap stop EXIT INT TERM
.venv/bin/regflow serve --port "${PORT1:-8000}" --data-dir .regflow/replica-1 & pids+=($!)
.venv/bin/regflow serve --port "${PORT2:-8001}" --data-dir .regflow/replica-2 & pids+=($!)
wait -n "${pids[@]}"
