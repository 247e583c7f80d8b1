#!/usr/bin/env bash
# postgres-test-server.sh DIR [PORT]
# (Copied from the shared postgres-test-server recipe, unchanged apart from this line.)
#
# Start a throwaway PostgreSQL server for a test suite. No systemd, nothing in
# /etc/postgresql is read or written, Debian's system clusters are not used.
#  * initdb (trust auth, UTF8, C.UTF-8) into a side dir pgtest.XXXXXX on /dev/shm
#    when it has room (else /tmp): DIR may be closed to the server's user
#    (pytest's /tmp/pytest-of-root is 0700). DIR/data and DIR/postgres.log
#    are symlinks into the side dir.
#  * listens on 127.0.0.1:PORT only, plus a unix socket in the side dir.
#    PORT 0 or omitted: pick a free port.
#  * postgres refuses to run as root: as root the server runs as the 'postgres'
#    system user (a system user 'pgtest' is created if there is none);
#    as any other user it runs as that user.
#  * tuned for tests: fsync, synchronous_commit, full_page_writes off,
#    max_connections 200, jit off, timezone UTC. Data does not survive a crash.
#  * role and database 'mailticket' (LOGIN CREATEDB, owns the database; not a
#    superuser, so row-level security applies). The superuser is 'postgres'.
# Prints postgresql+psycopg://mailticket@127.0.0.1:PORT/mailticket on stdout,
# writes DIR/server.env (PG_PORT PG_URL PG_DSN PG_PID PG_DATA ...).
# Idempotent: a second call on DIR returns the running server; a stopped one is
# started again on its data (same port if still free); a different explicit
# PORT restarts it. One flock per DIR: parallel calls are safe.
# Stop: postgres-test-server-stop.sh DIR [--purge].
#
# Environment (all optional):
#   PG_TEST_DB, PG_TEST_USER  database and role name (default mailticket)
#   PG_BIN                    server binaries (default newest /usr/lib/postgresql/*/bin)
#   PG_TEST_SIDE_PARENT       parent of the side dir (default /dev/shm, else /tmp)
#   PG_TEST_TIMEOUT           seconds to wait for the server (default 30)
#   PG_TEST_INSTALL=0         as root, the script apt-get installs postgresql when
#                             no server is found (policy-rc.d keeps the 'main'
#                             cluster from starting); 0 = fail instead
set -euo pipefail

DIR= ; CREATED_SIDE=
die() {
  echo "postgres-test-server: $*" >&2
  if [[ -n $CREATED_SIDE ]]; then   # undo a side dir made by this call
    rm -rf "$CREATED_SIDE"; rm -f "$DIR/.side" "$DIR/data" "$DIR/postgres.log"
  fi
  exit 1
}

# the caller's libpq/pg_ctl settings (PGHOST, PGPORT, PGDATA, ...) must not leak in
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^PG[A-Z]' || true)

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 DIR [PORT]"
PORT=${2:-0}
[[ $PORT =~ ^[0-9]+$ && $PORT -le 65535 ]] || die "bad PORT '$PORT'"
DB=${PG_TEST_DB:-mailticket}
ROLE=${PG_TEST_USER:-mailticket}
# plain identifiers only: they go into the URL unquoted
[[ $DB =~ ^[a-z_][a-z0-9_]*$ && $ROLE =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad PG_TEST_DB/PG_TEST_USER"
TIMEOUT=${PG_TEST_TIMEOUT:-30}
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)

exec 9>"$DIR/.lock"
flock -w 120 9 || die "timed out waiting for lock on $DIR/.lock"

# ---------- helpers ----------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {   # random free port below Linux's ephemeral range (32768+)
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12700 ))
    port_busy "$p" || { echo "$p"; return 0; }
  done
  return 1
}
find_bin() {    # newest PostgreSQL server bin dir (sort -V: 9.6 < 15)
  local b best=${PG_BIN:-}
  if [[ -z $best ]]; then
    for b in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
      [[ -x $b/initdb && -x $b/pg_ctl && -x $b/postgres ]] && best=$b
    done
  fi
  [[ -n $best && -x $best/initdb && -x $best/pg_ctl && -x $best/postgres ]] && echo "$best"
}
online_clusters() {   # Debian system clusters that are running, as VER/NAME
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}' || true
}
install_pg() {  # root: apt-get install postgresql; no system cluster may stay up
  [[ $EUID -eq 0 && ${PG_TEST_INSTALL:-auto} != 0 ]] && command -v apt-get >/dev/null \
    || die "PostgreSQL server not found; as root: apt-get install -y --no-install-recommends postgresql"
  exec 8>/tmp/.postgres-test-server-install.lock   # parallel callers install once
  flock -w 900 8 || die "timed out waiting for the install lock"
  if BIN=$(find_bin); then exec 8>&-; return 0; fi
  # a postinst must not start the 'main' cluster on 5432: policy-rc.d "exit 101"
  # makes invoke-rc.d refuse. Put one in place for the install if missing.
  local policy=/usr/sbin/policy-rc.d backup= made=no before rc=0 c
  if [[ ! -x $policy ]] || ! grep -q '^exit 101' "$policy"; then
    if [[ -e $policy ]]; then backup=$(mktemp /tmp/policy-rc.d.XXXXXX); cp -p "$policy" "$backup"; fi
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; made=yes
  fi
  before=$(online_clusters)
  echo "postgres-test-server: installing postgresql (apt-get)" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends -o DPkg::Lock::Timeout=300 postgresql; } >&2 || rc=$?
  if [[ -n $backup ]]; then mv "$backup" "$policy"; elif [[ $made == yes ]]; then rm -f "$policy"; fi
  # a cluster the install brought up is stopped (kept, not dropped)
  for c in $(online_clusters); do
    grep -qx "$c" <<<"$before" && continue
    echo "postgres-test-server: stopping system cluster $c started by the install" >&2
    pg_ctlcluster "${c%/*}" "${c#*/}" stop >&2 || true
  done
  [[ $rc -eq 0 ]] || die "apt-get install postgresql failed (rc $rc)"
  BIN=$(find_bin) || die "installed, but no server binaries under /usr/lib/postgresql"
  exec 8>&-
}

# ---------- binaries and the server's user ----------
BIN=$(find_bin) || { [[ -z ${PG_BIN:-} ]] || die "no initdb/pg_ctl/postgres in PG_BIN=$PG_BIN"; install_pg; }
PSQL=$BIN/psql; [[ -x $PSQL ]] || PSQL=psql
if [[ $EUID -eq 0 ]]; then
  RUN_AS=postgres
  if ! id -u postgres >/dev/null 2>&1; then
    RUN_AS=pgtest
    id -u pgtest >/dev/null 2>&1 \
      || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pgtest >&2 \
      || id -u pgtest >/dev/null 2>&1 || die "cannot create user pgtest"
  fi
else
  RUN_AS=$(id -un)
fi

# ---------- side dir (data, log, socket) ----------
side_parent() {
  if [[ -n ${PG_TEST_SIDE_PARENT:-} ]]; then echo "$PG_TEST_SIDE_PARENT"; return; fi
  # tmpfs keeps the data in RAM; Docker's default 64 MB /dev/shm is too small
  local kb; kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}' || true)
  if [[ -d /dev/shm && -w /dev/shm && ${kb:-0} -ge 524288 ]]; then echo /dev/shm; else echo /tmp; fi
}
SIDE=$(cat "$DIR/.side" 2>/dev/null || true)
# a side dir is ours only if its marker names DIR
[[ -n $SIDE && -f $SIDE/.pgtest-dir && $(cat "$SIDE/.pgtest-dir") == "$DIR" ]] || SIDE=
if [[ -z $SIDE ]]; then
  SIDE=$(mktemp -d "$(side_parent)/pgtest.XXXXXX") || die "cannot create a side dir"
  CREATED_SIDE=$SIDE
  echo "$DIR" >"$SIDE/.pgtest-dir"
  [[ $EUID -eq 0 ]] && chown "$RUN_AS:" "$SIDE"   # 0700, owned by the server's user
  echo "$SIDE" >"$DIR/.side"
  ln -sfn "$SIDE/data" "$DIR/data"
  ln -sfn "$SIDE/postgres.log" "$DIR/postgres.log"
fi
SIDE=$(cd "$SIDE" && pwd -P)
DATA=$SIDE/data
LOG=$SIDE/postgres.log
PMPID=$DATA/postmaster.pid

as_pg() {   # run as the server's user, from a dir it can enter (not root's cwd)
  if [[ $EUID -eq 0 ]]; then
    (cd "$SIDE" && exec setpriv --reuid="$RUN_AS" --regid="$(id -g "$RUN_AS")" --init-groups \
       env HOME="$SIDE" USER="$RUN_AS" LOGNAME="$RUN_AS" "$@")
  else
    (cd "$SIDE" && exec "$@")
  fi
}
alive() {   # alive PID: a live postgres whose cwd is our data dir (a reused PID fails this)
  [[ $1 =~ ^[0-9]+$ && $(readlink "/proc/$1/cwd" 2>/dev/null) == "$DATA" \
     && $(cat "/proc/$1/comm" 2>/dev/null) == postgres ]]
}
running_pid() { local p; p=$(sed -n 1p "$PMPID" 2>/dev/null || true); alive "$p" && echo "$p"; }
get() { sed -n "s/^$1=//p" "$DIR/server.env" 2>/dev/null | tail -n1 || true; }
ensure_db() {   # create role and database if missing (as superuser postgres, over TCP)
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -v role="$ROLE" -v db="$DB" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}
finish() {      # finish PID STARTUP_MS: write DIR/server.env, print the URL
  local host=127.0.0.1
  cat >"$DIR/server.env.tmp" <<EOF
PG_HOST=$host
PG_PORT=$PORT
PG_URL=postgresql+psycopg://$ROLE@$host:$PORT/$DB
PG_DSN=postgresql://$ROLE@$host:$PORT/$DB
PG_ADMIN_DSN=postgresql://postgres@$host:$PORT/postgres
PG_USER=$ROLE
PG_DB=$DB
PG_PID=$1
PG_DATA=$DATA
PG_LOG=$LOG
PG_SOCKET_DIR=$SIDE
PG_SIDE=$SIDE
PG_BIN=$BIN
PG_RUN_AS=$RUN_AS
PG_STARTUP_MS=$2
EOF
  mv "$DIR/server.env.tmp" "$DIR/server.env"
  echo "postgresql+psycopg://$ROLE@$host:$PORT/$DB"
}

# ---------- already running? ----------
if PID=$(running_pid); then
  RPORT=$(sed -n 4p "$PMPID")
  if [[ $PORT == 0 || $PORT == "$RPORT" ]]; then
    PORT=$RPORT
    ensure_db || die "server PID $PID is running but does not answer on 127.0.0.1:$PORT"
    finish "$PID" "$(get PG_STARTUP_MS)"
    exit 0
  fi
  port_busy "$PORT" && die "127.0.0.1:$PORT is already in use (server stays on $RPORT)"
  echo "postgres-test-server: port changes $RPORT -> $PORT, restarting PID $PID" >&2
  # we keep holding DIR/.lock; tell the stop script not to take it again
  PGT_LOCK_HELD=1 "$(dirname "${BASH_SOURCE[0]}")/postgres-test-server-stop.sh" "$DIR" >&2
fi

# ---------- pick the port (before initdb: fail early) ----------
AUTO_PORT=no
if [[ $PORT == 0 ]]; then
  AUTO_PORT=yes
  # same URL as last time when that port is still free
  OLD_PORT=$(sed -n 's/^port = //p' "$DATA/test.conf" 2>/dev/null || true)
  if [[ $OLD_PORT =~ ^[0-9]+$ ]] && ! port_busy "$OLD_PORT"; then PORT=$OLD_PORT
  else PORT=$(pick_port) || die "no free port found"; fi
else
  port_busy "$PORT" && die "127.0.0.1:$PORT is already in use"
fi

# ---------- initdb (once per side dir) ----------
t0=$(date +%s%N)
if [[ ! -s $DATA/PG_VERSION ]]; then
  rm -rf "$DATA"    # left half-made by an interrupted initdb
  LOCALE=C.UTF-8; locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' || LOCALE=C
  as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale="$LOCALE" --no-sync \
    </dev/null >"$SIDE/initdb.out" 2>&1 || die "initdb failed: $(tail -5 "$SIDE/initdb.out")"
  echo "include = 'test.conf'   # postgres-test-server.sh" >>"$DATA/postgresql.conf"
fi
write_conf() {  # rewritten on each start; later settings win over postgresql.conf
  cat >"$DATA/test.conf" <<EOF
# written by postgres-test-server.sh
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SIDE'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
jit = off
timezone = 'UTC'
log_timezone = 'UTC'
EOF
  [[ $EUID -eq 0 ]] && chown "$RUN_AS:" "$DATA/test.conf"
  return 0
}

# ---------- start and wait ----------
fail_started() {   # stop what this call started (by PID), then die
  local p; p=$(running_pid || true)
  tail -n 15 "$LOG" >&2 2>/dev/null || true
  [[ -n $p ]] && PGT_LOCK_HELD=1 "$(dirname "${BASH_SOURCE[0]}")/postgres-test-server-stop.sh" "$DIR" >&2
  rm -f "$DIR/server.env"
  die "$1"
}
for attempt in 1 2 3 4 5; do
  write_conf
  # stale lock files (no live postgres runs on DATA, checked above). After a
  # crash the dead postmaster can stay an unreaped zombie; kill(PID, 0) still
  # succeeds then, and postgres would refuse to start because of them.
  rm -f "$PMPID" "$SIDE"/.s.PGSQL.*
  logsize=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
  # 9>&- : the server must not inherit the lock fd (it would hold DIR/.lock forever)
  if as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$TIMEOUT" -s start \
       9>&- </dev/null >"$SIDE/pg_ctl.out" 2>&1; then
    break
  fi
  running_pid >/dev/null && fail_started "pg_ctl gave up but the server runs: $(cat "$SIDE/pg_ctl.out")"
  # port taken between the check and bind (parallel starts): try another one
  if [[ $AUTO_PORT == yes && $attempt -lt 5 ]] \
     && tail -c +$((logsize + 1)) "$LOG" 2>/dev/null | grep -q 'could not create any TCP/IP sockets'; then
    echo "postgres-test-server: port $PORT taken, retrying" >&2
    PORT=$(pick_port) || die "no free port found"
    continue
  fi
  fail_started "server did not start: $(cat "$SIDE/pg_ctl.out")"
done
PID=$(running_pid) || fail_started "no live postmaster PID in $PMPID"
ensure_db || fail_started "cannot create role/database"
finish "$PID" $(( ($(date +%s%N) - t0) / 1000000 ))
