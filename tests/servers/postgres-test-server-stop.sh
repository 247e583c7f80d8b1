#!/usr/bin/env bash
# postgres-test-server-stop.sh DIR [--purge]
# (Copied from the shared postgres-test-server recipe, unchanged apart from this line.)
#
# Stop the server started by postgres-test-server.sh DIR: SIGINT (fast
# shutdown: clients are disconnected, open transactions rolled back) to the
# postmaster PID from its postmaster.pid, checked against /proc (its cwd must
# be the data dir) so a reused PID is never hit; wait until it has exited and
# the port is closed. After 30 s: SIGQUIT (immediate shutdown); after 5 s
# more: SIGKILL to each process whose cwd is the data dir, then remove the
# shared memory (SysV id, /dev/shm/PostgreSQL.*) those processes held.
# Without --purge the data is kept (postgres-test-server.sh DIR starts it
# again); --purge deletes DIR and the side dir. Idempotent: exits 0 when
# nothing runs.
set -euo pipefail
die() { echo "postgres-test-server-stop: $*" >&2; exit 1; }
[[ $# -ge 1 && $# -le 2 && ${2:---purge} == --purge ]] || die "usage: $0 DIR [--purge]"
PURGE=no; [[ ${2:-} == --purge ]] && PURGE=yes
[[ -d $1 ]] || exit 0
DIR=$(cd "$1" && pwd -P)

if [[ -z ${PGT_LOCK_HELD:-} ]]; then   # set by postgres-test-server.sh when it restarts
  exec 9>"$DIR/.lock"
  flock -w 120 9 || die "timed out waiting for lock on $DIR/.lock"
fi

# the side dir is ours only if its marker names DIR
SIDE=$(cat "$DIR/.side" 2>/dev/null || true)
if [[ -n $SIDE && -f $SIDE/.pgtest-dir && $(cat "$SIDE/.pgtest-dir") == "$DIR" ]]; then
  SIDE=$(cd "$SIDE" && pwd -P)
else
  SIDE=
fi
DATA=${SIDE:+$SIDE/data}

alive() {   # alive PID: a live postgres process whose cwd is our data dir
  [[ -n $DATA && $1 =~ ^[0-9]+$ && $(readlink "/proc/$1/cwd" 2>/dev/null) == "$DATA" \
     && $(cat "/proc/$1/comm" 2>/dev/null) == postgres ]]
}
wait_gone() {   # wait_gone PID SECONDS
  local end=$(( SECONDS + $2 ))
  while alive "$1"; do (( SECONDS < end )) || return 1; sleep 0.02; done
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PID= ; PORT=
if [[ -n $DATA && -f $DATA/postmaster.pid ]]; then
  PID=$(sed -n 1p "$DATA/postmaster.pid"); PORT=$(sed -n 4p "$DATA/postmaster.pid")
fi
[[ -n $PID ]] || PID=$(sed -n 's/^PG_PID=//p' "$DIR/server.env" 2>/dev/null || true)

if alive "$PID"; then
  kill -INT "$PID" 2>/dev/null || true
  if ! wait_gone "$PID" 30; then
    echo "postgres-test-server-stop: PID $PID ignored SIGINT for 30 s, SIGQUIT" >&2
    kill -QUIT "$PID" 2>/dev/null || true
    if ! wait_gone "$PID" 5; then
      # SIGKILL leaves the shared memory behind: note the DSM files our
      # processes map and the SysV id (postmaster.pid line 7) first
      DSM= ; OURS=
      for p in /proc/[0-9]*; do   # the postmaster and its backends, by PID
        alive "${p#/proc/}" || continue
        OURS+=" ${p#/proc/}"
        DSM+=" $(grep -o '/dev/shm/PostgreSQL\.[0-9]*' "$p/maps" 2>/dev/null | tr '\n' ' ' || true)"
      done
      SHMID=$(awk 'NR == 7 {print $2}' "$DATA/postmaster.pid" 2>/dev/null || true)
      for p in $OURS; do kill -KILL "$p" 2>/dev/null || true; done
      wait_gone "$PID" 5 || die "PID $PID does not exit"
      for f in $DSM; do rm -f "$f"; done
      [[ $SHMID =~ ^[0-9]+$ ]] && { ipcrm -m "$SHMID" 2>/dev/null || true; }
    fi
  fi
  if [[ $PORT =~ ^[0-9]+$ ]]; then
    for _ in $(seq 1 250); do port_busy "$PORT" || break; sleep 0.02; done
  fi
fi
rm -f "$DIR/server.env"
if [[ $PURGE == yes ]]; then
  [[ -n $SIDE ]] && rm -rf "$SIDE"
  rm -rf "$DIR"
fi
exit 0
