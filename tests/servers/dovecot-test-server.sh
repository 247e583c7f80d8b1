#!/usr/bin/env bash
# dovecot-test-server.sh DIR PORT [USER[:PASSWORD] ...]
# (Copied from the shared mail-test-servers recipe; adapted: XOAUTH2/OAUTHBEARER enabled.)
#
# Start a throwaway Dovecot IMAP server (Debian package dovecot-imapd, 2.3.x)
# on 127.0.0.1:PORT, with its config, users, TLS cert, sockets, log and Maildirs
# all under DIR. No systemd, nothing in /etc is read or written.
# Prints the dovecot master PID (one line) on stdout; writes DIR/server.env.
#
#   PORT 0        pick a free port (read it back from DIR/server.env)
#   USER          password defaults to the user name; default users:
#                 helpdesk staff1 coordinator
# Environment (all optional):
#   IMAPS_PORT=N          also listen with implicit TLS on 127.0.0.1:N (0 = pick)
#   LMTP_PORT=N           also run Dovecot LMTP on 127.0.0.1:N (0 = pick; needs dovecot-lmtpd)
#   DOVECOT_MAIL_USER=U   (root only) uid that owns the Maildirs; default nobody
#                         (Dovecot refuses uid 0 for mail access)
#   DOVECOT_READY_TIMEOUT seconds to wait for a working LOGIN (default 20)
#
# Idempotent: a second call with the same DIR and settings leaves the running
# server alone (the users file is rewritten; Dovecot re-reads it per login) and
# prints the same PID. A call with different settings restarts it.
# Safe in parallel: one flock per DIR; separate DIRs are fully separate
# instances (own base_dir, pid file, instance_name).  Stop with
# dovecot-test-server-stop.sh DIR [--purge].
set -euo pipefail

CREATED_SIDE=
die() {
  echo "dovecot-test-server: $*" >&2
  if [[ -n $CREATED_SIDE && $CREATED_SIDE == /tmp/dvt.* ]]; then   # undo a side dir made by this call
    rm -rf "$CREATED_SIDE"; rm -f "$DIR/.side" "$DIR/mail" "$DIR/users" 2>/dev/null || true
  fi
  exit 1
}
[[ $# -ge 2 ]] || die "usage: $0 DIR PORT [USER[:PASSWORD] ...]"
command -v dovecot >/dev/null || die "dovecot not installed (apt-get install -y dovecot-imapd)"

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
PORT=$2
shift 2
USERS=("$@")
[[ ${#USERS[@]} -gt 0 ]] || USERS=(helpdesk staff1 coordinator)
IMAPS_PORT=${IMAPS_PORT:-}
LMTP_PORT=${LMTP_PORT:-}
TIMEOUT=${DOVECOT_READY_TIMEOUT:-20}

exec 9>"$DIR/.lock"
flock -w 120 9 || die "timed out waiting for lock on $DIR/.lock"

# ---------- helpers ----------
alive() {   # alive PID CONF: PID is a live (non-zombie) dovecot master started with CONF
  local pid=$1 st
  [[ -n $pid && -r /proc/$pid/stat ]] || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {   # /usr/bin/python3 first: a pyenv shim costs ~100 ms a call
  "$(command -v /usr/bin/python3 || command -v python3)" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
imap_login_ok() {   # imap_login_ok PORT USER PASS
  ( exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == "* OK"* ]] || exit 1
    printf 'a1 LOGIN "%s" "%s"\r\na2 LOGOUT\r\n' "$2" "$3" >&3
    while IFS= read -r -t 2 line <&3; do
      [[ $line == "a1 OK"* ]] && exit 0
      [[ $line == "a1 "* ]] && exit 1
    done
    exit 1 ) 2>/dev/null
}
banner_ok() {  # banner_ok PORT PREFIX
  ( exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == "$2"* ]] ) 2>/dev/null
}

# ---------- previous run in this DIR ----------
OLD_PID=
if [[ -f $DIR/server.env ]]; then
  OLD_PID=$(sed -n 's/^DOVECOT_PID=//p' "$DIR/server.env")
  if alive "$OLD_PID" "$DIR/dovecot.conf"; then
    # keep previously picked ports when asked to pick again
    reuse() { local v; v=$(sed -n "s/^$1=//p" "$DIR/server.env"); echo "${v:-0}"; }
    [[ $PORT == 0 ]] && PORT=$(reuse IMAP_PORT)
    [[ $IMAPS_PORT == 0 ]] && IMAPS_PORT=$(reuse IMAPS_PORT)
    [[ $LMTP_PORT == 0 ]] && LMTP_PORT=$(reuse LMTP_PORT)
  else
    OLD_PID=
  fi
fi
[[ $PORT == 0 ]] && PORT=$(free_port)
[[ $IMAPS_PORT == 0 ]] && IMAPS_PORT=$(free_port)
[[ $LMTP_PORT == 0 ]] && LMTP_PORT=$(free_port)
[[ $PORT =~ ^[0-9]+$ ]] || die "bad PORT $PORT"

# ---------- identities ----------
if [[ $EUID -eq 0 ]]; then
  MAIL_USER=${DOVECOT_MAIL_USER:-nobody}
  INTERNAL_USER=dovecot; LOGIN_USER=dovenull
  id dovecot >/dev/null 2>&1 || INTERNAL_USER=$MAIL_USER
  id dovenull >/dev/null 2>&1 || LOGIN_USER=$MAIL_USER
  INTERNAL_GROUP=$(id -gn "$INTERNAL_USER")
  ROOTLESS=no
else
  MAIL_USER=$(id -un); INTERNAL_USER=$MAIL_USER; LOGIN_USER=$MAIL_USER
  INTERNAL_GROUP=$(id -gn); ROOTLESS=yes
fi
MAIL_UID=$(id -u "$MAIL_USER") || die "no such user $MAIL_USER"
MAIL_GID=$(id -g "$MAIL_USER")

# ---------- directories ----------
# Two things can force the runtime files out of DIR into a side dir /tmp/dvt.XXXXXX:
#  * unix socket paths are limited to 107 bytes, so base_dir must stay short;
#  * as root, the auth process (user dovecot) reads the users file and the imap
#    processes (MAIL_USER) open the Maildirs: both need +x on every parent of
#    DIR (pytest's /tmp/pytest-of-root is 0700, so tmp_path fails this).
# Then run/, mail/ and users live in the side dir; DIR/mail and DIR/users are
# symlinks to them. dovecot-test-server-stop.sh --purge removes the side dir.
mkdir -p "$DIR/log" "$DIR/state" "$DIR/ssl"
SIDE=
[[ -f $DIR/.side && -d $(cat "$DIR/.side") ]] && SIDE=$(cat "$DIR/.side")
if [[ -z $SIDE ]]; then
  need_side=no
  [[ ${#DIR} -gt 70 ]] && need_side=yes
  if [[ $EUID -eq 0 ]]; then
    for u in "$MAIL_USER" "$INTERNAL_USER"; do
      setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups test -x "$DIR" \
        || need_side=yes
    done
  fi
  if [[ $need_side == yes ]]; then
    SIDE=$(mktemp -d /tmp/dvt.XXXXXX)
    CREATED_SIDE=$SIDE
    echo "$SIDE" >"$DIR/.side"
  fi
fi
if [[ -n $SIDE ]]; then
  chmod 0711 "$SIDE"
  RUN=$SIDE/run; MAILROOT=$SIDE/mail; USERS_FILE=$SIDE/users
  mkdir -p "$MAILROOT"
  [[ -L $DIR/mail ]] || { rmdir "$DIR/mail" 2>/dev/null || true; ln -sfn "$MAILROOT" "$DIR/mail"; }
  [[ -L $DIR/users ]] || { rm -f "$DIR/users"; ln -sfn "$USERS_FILE" "$DIR/users"; }
else
  RUN=$DIR/run; MAILROOT=$DIR/mail; USERS_FILE=$DIR/users
  mkdir -p "$MAILROOT"
fi
mkdir -p "$RUN"; chmod 0755 "$RUN"
[[ $EUID -eq 0 ]] && { chmod 0711 "$MAILROOT"; chown "$MAIL_UID:$MAIL_GID" "$MAILROOT"; }

# ---------- TLS cert (self-signed, reused) ----------
if [[ ! -s $DIR/ssl/cert.pem || ! -s $DIR/ssl/key.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$DIR/ssl/key.pem.tmp" -out "$DIR/ssl/cert.pem.tmp" >/dev/null 2>&1 \
    || die "openssl failed"
  chmod 600 "$DIR/ssl/key.pem.tmp"
  mv "$DIR/ssl/key.pem.tmp" "$DIR/ssl/key.pem"; mv "$DIR/ssl/cert.pem.tmp" "$DIR/ssl/cert.pem"
fi

# ---------- users (passwd-file, plaintext scheme: test only) ----------
: >"$USERS_FILE.tmp"
FIRST_USER= ; FIRST_PASS=
for spec in "${USERS[@]}"; do
  u=${spec%%:*}; p=${spec#*:}; [[ $spec == *:* ]] || p=$u
  [[ $u =~ ^[A-Za-z0-9._-]+$ ]] || die "bad user name '$u'"
  [[ $p != *:* && $p != *\"* && $p != *\\* ]] || die "password for $u must not contain : \" or \\"
  printf '%s:{PLAIN}%s::::::\n' "$u" "$p" >>"$USERS_FILE.tmp"
  [[ -n $FIRST_USER ]] || { FIRST_USER=$u; FIRST_PASS=$p; }
  # pre-create the Maildir so tests may drop files into Maildir/new directly
  for sub in cur new tmp; do mkdir -p "$MAILROOT/$u/Maildir/$sub"; done
  [[ $EUID -eq 0 ]] && chown -R "$MAIL_UID:$MAIL_GID" "$MAILROOT/$u"
done
chmod 644 "$USERS_FILE.tmp"
USERS_CHANGED=yes
cmp -s "$USERS_FILE.tmp" "$USERS_FILE" && USERS_CHANGED=no
mv "$USERS_FILE.tmp" "$USERS_FILE"

# ---------- config ----------
INSTANCE="dvt-$PORT"
{
cat <<EOF
# generated by dovecot-test-server.sh -- self-contained, reads nothing from /etc/dovecot
instance_name = $INSTANCE
base_dir = $RUN
state_dir = $DIR/state
log_path = $DIR/log/dovecot.log
info_log_path = $DIR/log/dovecot.log
default_internal_user = $INTERNAL_USER
default_internal_group = $INTERNAL_GROUP
default_login_user = $LOGIN_USER
protocols = imap${LMTP_PORT:+ lmtp}
listen = 127.0.0.1
ssl = yes
ssl_cert = <$DIR/ssl/cert.pem
ssl_key = <$DIR/ssl/key.pem
disable_plaintext_auth = no
# XOAUTH2/OAUTHBEARER check the token like a password here: tests use the password as the token
auth_mechanisms = plain login xoauth2 oauthbearer
# tests log in wrongly on purpose: no 2 s failure delay, no anvil penalty
auth_failure_delay = 0
# a daemon may hold many IDLE connections per user (default 10; and at most
# default_process_limit=100 imap sessions per instance)
mail_max_userip_connections = 300
default_process_limit = 300
# IDLE is pushed by inotify after a fixed 0.5 s delay; once the mail uid has
# used up fs.inotify.max_user_instances (128, ~50 IDLE sessions, all instances
# running as that uid together) Dovecot falls back to polling: 30 s by default
mailbox_idle_check_interval = 1 secs
# throwaway data: skip fsync (APPEND ~1.5x, MULTIAPPEND ~4x faster)
mail_fsync = never
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $USERS_FILE
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$MAILROOT/%n
}
first_valid_uid = 1
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
EOF
if [[ -n $IMAPS_PORT ]]; then cat <<EOF
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
EOF
else cat <<EOF
  inet_listener imaps {
    port = 0
  }
EOF
fi
echo "}"
if [[ -n $LMTP_PORT ]]; then cat <<EOF
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
EOF
fi
if [[ $ROOTLESS == yes ]]; then cat <<EOF
# rootless: no chroot, no uid switching
service imap-login {
  chroot =
}
service imap-urlauth-login {
  chroot =
}
service anvil {
  chroot =
}
service ipc {
  chroot =
}
service old-stats {
  chroot =
}
service aggregator {
  chroot =
}
service director {
  chroot =
}
EOF
fi
} >"$DIR/dovecot.conf.new"

# ---------- already running? ----------
if [[ -n $OLD_PID ]]; then
  if cmp -s "$DIR/dovecot.conf.new" "$DIR/dovecot.conf"; then
    rm -f "$DIR/dovecot.conf.new"
    if [[ $USERS_CHANGED == yes ]]; then
      # passwd-file is re-stat()ed at most once a second and compared by
      # mtime (seconds) + size, so an edit can go unseen: make Dovecot restart
      # its auth process (SIGHUP = doveadm reload), then wait for every user.
      kill -HUP "$OLD_PID"
      deadline=$(( $(date +%s) + TIMEOUT ))
      for spec in "${USERS[@]}"; do
        u=${spec%%:*}; p=${spec#*:}; [[ $spec == *:* ]] || p=$u
        until imap_login_ok "$PORT" "$u" "$p"; do
          (( $(date +%s) < deadline )) || die "user $u cannot log in after reload"
          sleep 0.05
        done
      done
    fi
    imap_login_ok "$PORT" "$FIRST_USER" "$FIRST_PASS" || die "PID $OLD_PID running but LOGIN fails"
    echo "$OLD_PID"
    exit 0
  fi
  echo "dovecot-test-server: settings changed, restarting PID $OLD_PID" >&2
  # we keep holding DIR/.lock; the stop script is told not to take it again
  DVT_LOCK_HELD=1 "$(dirname "$0")/dovecot-test-server-stop.sh" "$DIR" >&2
  mkdir -p "$RUN"
fi
mv "$DIR/dovecot.conf.new" "$DIR/dovecot.conf"
doveconf -c "$DIR/dovecot.conf" -n >/dev/null 2>"$DIR/log/doveconf.err" \
  || die "config invalid: $(cat "$DIR/log/doveconf.err")"

for p in "$PORT" $IMAPS_PORT $LMTP_PORT; do
  port_busy "$p" && die "127.0.0.1:$p is already in use"
done
rm -f "$RUN/master.pid"

# ---------- start and wait ----------
write_env() {
cat >"$DIR/server.env.tmp" <<EOF
DOVECOT_PID=$1
IMAP_HOST=127.0.0.1
IMAP_PORT=$PORT
IMAPS_PORT=$IMAPS_PORT
LMTP_PORT=$LMTP_PORT
DOVECOT_CONF=$DIR/dovecot.conf
DOVECOT_BASE_DIR=$RUN
DOVECOT_LOG=$DIR/log/dovecot.log
MAIL_ROOT=$MAILROOT
TLS_CERT=$DIR/ssl/cert.pem
STARTUP_MS=$2
EOF
mv "$DIR/server.env.tmp" "$DIR/server.env"
}
fail_started() {   # kill what we started (by PID), then die
  local pid; pid=$(cat "$RUN/master.pid" 2>/dev/null || true)
  tail -20 "$DIR/log/dovecot.log" >&2 2>/dev/null || true
  if alive "$pid" "$DIR/dovecot.conf"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" "$DIR/dovecot.conf" || break; sleep 0.05; done
  fi
  rm -f "$DIR/server.env"
  die "$1"
}
t0=$(date +%s%N)
# 9>&- : the daemon must not inherit the lock fd, or it holds DIR/.lock forever.
# Its stdio must not be our caller's pipes either: the daemonized master keeps
# stderr open, so subprocess.run(..., capture_output=True) would never see EOF.
dovecot -c "$DIR/dovecot.conf" 9>&- </dev/null >"$DIR/log/start.out" 2>&1 \
  || die "dovecot failed to start: $(cat "$DIR/log/start.out"; tail -5 "$DIR/log/dovecot.log" 2>/dev/null)"
# the daemonized master writes master.pid after the parent has returned: wait
PID=
for _ in $(seq 1 400); do
  PID=$(cat "$RUN/master.pid" 2>/dev/null || true)
  [[ -n $PID ]] && alive "$PID" "$DIR/dovecot.conf" && break
  PID=; sleep 0.025
done
[[ -n $PID ]] || fail_started "no live master PID in $RUN/master.pid after 10 s"
write_env "$PID" ""
deadline=$(( $(date +%s) + TIMEOUT ))
until imap_login_ok "$PORT" "$FIRST_USER" "$FIRST_PASS"; do
  (( $(date +%s) < deadline )) || fail_started "not ready after ${TIMEOUT}s (log above)"
  alive "$PID" "$DIR/dovecot.conf" || fail_started "dovecot master exited (log above)"
  sleep 0.05
done
[[ -z $IMAPS_PORT ]] || until port_busy "$IMAPS_PORT"; do sleep 0.05; done
[[ -z $LMTP_PORT ]] || until banner_ok "$LMTP_PORT" 220; do sleep 0.05; done
write_env "$PID" $(( ($(date +%s%N) - t0) / 1000000 ))
echo "$PID"
