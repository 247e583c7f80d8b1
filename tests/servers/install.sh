#!/usr/bin/env bash
# tests/servers/install.sh — install what the real-server tests need on Debian (run as root).
#
# Idempotent and quick (a few ms) when everything is present: apt-get runs only when
# a package is missing, and `apt-get update` at most once. policy-rc.d keeps the
# packages' postinst from starting a system-wide Dovecot on 0.0.0.0:143/993 or the
# Debian PostgreSQL cluster on 5432; a cluster that starts anyway is stopped (kept).
# The tests start their own servers (dovecot-test-server.sh, postgres-test-server.sh).
set -euo pipefail

PACKAGES=(dovecot-imapd openssl chromium)  # chromium: the phone-layout tests (tests/servers/browser.py)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v setpriv >/dev/null || missing+=(util-linux)
# PostgreSQL: any server version will do (postgres-test-server.sh takes the newest)
pg_server() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }
pg_server || missing+=(postgresql)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $EUID -ne 0 ]]; then
  echo "install.sh: missing ${missing[*]}; run as root: sudo $0" >&2
  exit 1
fi

online_clusters() {  # Debian PostgreSQL clusters that are running, as VER/NAME
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}' || true
}

policy=/usr/sbin/policy-rc.d
backup=
made=no
if [[ ! -x $policy ]] || ! grep -q '^exit 101' "$policy"; then
  if [[ -e $policy ]]; then backup=$(mktemp /tmp/policy-rc.d.XXXXXX); cp -p "$policy" "$backup"; fi
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made=yes
fi
restore_policy() {
  if [[ -n $backup ]]; then mv "$backup" "$policy"; elif [[ $made == yes ]]; then rm -f "$policy"; fi
}
trap restore_policy EXIT
before=$(online_clusters)

echo "install.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for cluster in $(online_clusters); do  # one the install brought up anyway: stop it, keep it
  grep -qx "$cluster" <<<"$before" && continue
  echo "install.sh: stopping PostgreSQL cluster $cluster started by the install" >&2
  pg_ctlcluster "${cluster%/*}" "${cluster#*/}" stop >&2 || true
done
command -v dovecot >/dev/null || { echo "install.sh: dovecot still missing" >&2; exit 1; }
pg_server || { echo "install.sh: PostgreSQL server binaries still missing" >&2; exit 1; }
command -v chromium >/dev/null || { echo "install.sh: chromium still missing" >&2; exit 1; }
echo "install.sh: done ($(dovecot --version); $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')chromium)" >&2
