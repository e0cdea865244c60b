#!/usr/bin/env bash
# `make run-postgres`: a local PostgreSQL cluster (Debian's postgresql package) and two
# `regflow serve` replicas on it (ports PORT1=8010 and PORT2=8011, the cluster on PGPORT=5433:
# nothing else the Makefile serves uses them; `make run` is 8000, `make docs` 8001). Ctrl+C
# stops all. Works from any directory (it runs from the checkout it belongs to).
#
# The cluster lives in .regflow-pg/ of the checkout, except as root: PostgreSQL runs as the
# `postgres` user, which cannot enter a checkout under a private home directory (mode 700), so
# root's cluster is in /var/tmp/regflow-pg-<hash of the checkout's path>, owned by `postgres`.
# `tools/run-postgres.sh --cluster-dir` prints where it is (`make delete-local-data` deletes it).
set -euo pipefail
cd "$(dirname "$0")/.."

cluster_dir() {
  if [ "$(id -u)" = 0 ]; then
    echo "/var/tmp/regflow-pg-$(printf '%s' "$PWD" | sha256sum | cut -c1-12)"
  else
    echo "$PWD/.regflow-pg"
  fi
}
if [ "${1:-}" = --cluster-dir ]; then cluster_dir; exit 0; fi

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ]; then
  echo "run-postgres: install PostgreSQL first: apt-get install -y postgresql" >&2
  exit 2
fi
PGDIR=$(cluster_dir)
PGPORT=${PGPORT:-5433}
PORT1=${PORT1:-8010}
PORT2=${PORT2:-8011}
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
# the PostgreSQL tools as their user, from a directory that user can enter (they look up
# their working directory)
pg() { (cd "$PGDIR" && "${AS[@]}" "$@"); }

mkdir -p -m 0700 "$PGDIR"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDIR"; chmod 0700 "$PGDIR"; fi
if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
  echo "run-postgres: a new cluster in $PGDIR"
  pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
fi
pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
  -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres regflow 2>/dev/null || true

export DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/regflow"
# the replicas share one signing key: a link mailed by one verifies through the other
if [ ! -f .regflow/pg-token-secret ]; then
  mkdir -p -m 0700 .regflow && (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' \
    > .regflow/pg-token-secret)
fi
TOKEN_SECRET=$(cat .regflow/pg-token-secret)
export TOKEN_SECRET

pids=()
stop() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -w stop >/dev/null || true
}
trap stop EXIT INT TERM
.venv/bin/regflow migrate
.venv/bin/regflow serve --port "$PORT1" --data-dir .regflow/replica-1 & pids+=($!)
.venv/bin/regflow serve --port "$PORT2" --data-dir .regflow/replica-2 & pids+=($!)
wait -n "${pids[@]}"
