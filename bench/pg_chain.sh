#!/usr/bin/env bash
# The PostgreSQL reference of issue 15: what a bureau's IT team would build in an afternoon for a
# tamper-evident log. An append-only table entries(seq, body, prev, hash) whose BEFORE INSERT
# trigger (PL/pgSQL, pgcrypto) reads the last row's hash, gives the new row the next seq and sets
# hash = sha256(prev || body): a hash chain. UPDATE, DELETE and TRUNCATE are refused by a
# statement trigger. N rows of random bodies are inserted in transactions of --batch rows, each
# its own INSERT ... SELECT (the trigger runs once per row) and its own COMMIT; the server runs
# with PostgreSQL's defaults fsync=on, synchronous_commit=on, full_page_writes=on, so that every
# COMMIT is durable (its WAL flushed to the disk) before the next batch starts.
#
# A throwaway cluster: initdb in WORKDIR as the `postgres` user, the server listening on a unix
# socket in WORKDIR only (no TCP), stopped by its pid and WORKDIR removed on exit. Only the
# inserts are timed (by the server's clock, between the first BEGIN and the last COMMIT); the
# chain is then checked link by link. Prints one JSON line on stdout; progress on stderr.
#
# usage: bench/pg_chain.sh [--events N] [--batch N] [--body-bytes N] [--dir WORKDIR]
# Needs root (for runuser) and Debian's postgresql package (postgresql-15 and its contrib).
set -euo pipefail

events=100000
batch=1000
body_bytes=256
workdir=""

die() {
  echo "pg_chain: $*" >&2
  exit 1
}
usage() {
  sed -n 's/^# usage: //p' "$0" >&2
  exit 2
}
positive() {  # name value
  [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, not '$2'"
}

while (($#)); do
  case $1 in
    --events) events=${2-}; shift 2 || usage ;;
    --batch) batch=${2-}; shift 2 || usage ;;
    --body-bytes) body_bytes=${2-}; shift 2 || usage ;;
    --dir) workdir=${2-}; shift 2 || usage ;;
    -h | --help) usage ;;
    *) die "unknown option $1" ;;
  esac
done
positive --events "$events"
positive --batch "$batch"
positive --body-bytes "$body_bytes"
((body_bytes <= 1024)) || die "--body-bytes is at most 1024 (pgcrypto's gen_random_bytes)"

# Debian's server binaries, the newest version if several are installed.
bin=""
for d in /usr/lib/postgresql/*/bin; do
  [[ -x $d/initdb && -x $d/postgres && -x $d/psql ]] && bin=$d
done
[[ -n $bin ]] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): apt-get install postgresql"
major=$(basename "$(dirname "$bin")")
[[ -f /usr/share/postgresql/$major/extension/pgcrypto.control ]] || die "pgcrypto is not installed (Debian ships it in postgresql-$major)"
((EUID == 0)) || die "run as root: initdb and the server run as the postgres user (runuser)"
id postgres >/dev/null 2>&1 || die "no postgres user (Debian's postgresql package creates it)"

if [[ -z $workdir ]]; then
  workdir=$(mktemp -d /tmp/pg-chain.XXXXXX)
else
  [[ ! -e $workdir || -z $(ls -A "$workdir") ]] || die "$workdir exists and is not empty"
  mkdir -p "$workdir"
fi
workdir=$(cd "$workdir" && pwd)
# The socket's path must fit in sun_path (107 bytes).
((${#workdir} <= 80)) || die "--dir $workdir is too long for a unix socket path (80 characters at most)"

server_pid=""
runuser_pid=""
cleanup() {
  local rc=$?
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid" 2>/dev/null || true  # Fast shutdown.
    for _ in $(seq 300); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$server_pid" 2>/dev/null && kill -QUIT "$server_pid" 2>/dev/null  # Immediate.
  fi
  [[ -n $runuser_pid ]] && wait "$runuser_pid" 2>/dev/null
  ((rc == 0)) || [[ ! -f $workdir/server.log ]] || tail -n 20 "$workdir/server.log" >&2
  rm -rf "$workdir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

chown postgres: "$workdir"
runuser -u postgres -- test -w "$workdir" || die "the postgres user cannot write $workdir (a parent not searchable?)"
data=$workdir/data
echo "pg_chain: initdb in $data ($bin)" >&2
runuser -u postgres -- "$bin/initdb" -D "$data" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
  >"$workdir/initdb.log" 2>&1 || {
  cat "$workdir/initdb.log" >&2
  die "initdb failed"
}

# PostgreSQL's defaults but for where it listens; the durability settings are given explicitly.
runuser -u postgres -- "$bin/postgres" -D "$data" -c listen_addresses='' -c unix_socket_directories="$workdir" \
  -c fsync=on -c synchronous_commit=on -c full_page_writes=on >"$workdir/server.log" 2>&1 &
runuser_pid=$!
psql=("$bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$workdir" -U postgres -d postgres)
for i in $(seq 300); do  # 30 s
  if [[ -z $server_pid && -s $data/postmaster.pid ]]; then
    server_pid=$(head -n 1 "$data/postmaster.pid")
  fi
  [[ -n $server_pid ]] && "${psql[@]}" -c 'select 1' >/dev/null 2>&1 && break
  kill -0 "$runuser_pid" 2>/dev/null || die "the server exited at start"
  ((i < 300)) || die "the server was not ready in 30 s"
  sleep 0.1
done

"${psql[@]}" <<'SQL'
CREATE EXTENSION pgcrypto;
CREATE TABLE entries (
  seq  bigint PRIMARY KEY,
  body bytea NOT NULL,
  prev bytea NOT NULL,
  hash bytea NOT NULL
);
-- The chain: each row gets the next seq and hash = sha256(previous hash || body); the first row's
-- previous hash is 32 zero bytes. One writer at a time (this client); concurrent writers would
-- also need a lock (e.g. pg_advisory_xact_lock) around the read of the last row.
CREATE FUNCTION entries_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_seq  bigint;
  last_hash bytea;
BEGIN
  SELECT seq, hash INTO last_seq, last_hash FROM entries ORDER BY seq DESC LIMIT 1;
  NEW.seq  := coalesce(last_seq, 0) + 1;
  NEW.prev := coalesce(last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
  NEW.hash := digest(NEW.prev || NEW.body, 'sha256');
  RETURN NEW;
END $$;
CREATE TRIGGER entries_chain BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION entries_chain();
-- Append-only.
CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'entries is append-only';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON entries
  FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();
SQL

# The inserts: one session, each batch one INSERT ... SELECT in its own transaction.
script=$workdir/inserts.sql
{
  echo "SELECT extract(epoch FROM clock_timestamp());"
  for ((first = 0; first < events; first += batch)); do
    n=$((events - first < batch ? events - first : batch))
    echo "BEGIN;"
    echo "INSERT INTO entries (body) SELECT gen_random_bytes($body_bytes) FROM generate_series(1, $n);"
    echo "COMMIT;"
  done
  echo "SELECT extract(epoch FROM clock_timestamp());"
} >"$script"
echo "pg_chain: inserting $events rows of $body_bytes B in transactions of $batch" >&2
mapfile -t clock < <("${psql[@]}" -f "$script")
((${#clock[@]} == 2)) || die "the inserts did not complete"
seconds=$(awk -v a="${clock[0]}" -v b="${clock[1]}" 'BEGIN { printf "%.6f", b - a }')

# The chain checked link by link (not timed): every row's prev is the hash before it and its hash
# is sha256(prev || body).
check=$("${psql[@]}" -F ' ' -c "
  SELECT count(*),
         count(*) FILTER (WHERE seq = expected_seq AND prev = expected_prev
                          AND hash = digest(prev || body, 'sha256') AND length(body) = $body_bytes)
  FROM (SELECT seq, body, prev, hash,
               row_number() OVER w AS expected_seq,
               coalesce(lag(hash) OVER w, '\\x$(printf '0%.0s' {1..64})'::bytea) AS expected_prev
        FROM entries WINDOW w AS (ORDER BY seq)) AS chain;")
read -r rows links <<<"$check"
((rows == events)) || die "the table holds $rows rows, not $events"
((links == events)) || die "$((events - links)) of $events rows do not chain"

settings=$("${psql[@]}" -F '|' -c "
  SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes'),
         current_setting('wal_sync_method'), current_setting('shared_buffers'), current_setting('server_version');")
IFS='|' read -r fsync sync_commit fpw wal_sync shared_buffers version <<<"$settings"
[[ $fsync == on && $sync_commit == on ]] || die "the server ran with fsync=$fsync synchronous_commit=$sync_commit"

awk -v n="$events" -v b="$batch" -v bb="$body_bytes" -v s="$seconds" -v v="$version" -v f="$fsync" \
  -v sc="$sync_commit" -v fpw="$fpw" -v ws="$wal_sync" -v sb="$shared_buffers" 'BEGIN {
  printf "{\"events\":%d,\"batch\":%d,\"body_bytes\":%d,\"commits\":%d,\"seconds\":%.6f,\"events_per_s\":%.1f,", \
    n, b, bb, int((n + b - 1) / b), s, n / s
  printf "\"chain_verified\":true,\"postgres_version\":\"%s\",\"fsync\":\"%s\",\"synchronous_commit\":\"%s\",", v, f, sc
  printf "\"full_page_writes\":\"%s\",\"wal_sync_method\":\"%s\",\"shared_buffers\":\"%s\"}\n", fpw, ws, sb
}'
