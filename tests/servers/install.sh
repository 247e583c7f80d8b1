#!/usr/bin/env bash
# tests/servers/install.sh — install what the real-server tests need on Debian (run as root).
#
# Idempotent and quick (a few ms) when everything is present: apt-get runs only when
# a package is missing, and `apt-get update` at most once. policy-rc.d keeps the
# package's postinst from starting a system-wide Dovecot on 0.0.0.0:143/993.
set -euo pipefail

PACKAGES=(dovecot-imapd openssl)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v setpriv >/dev/null || missing+=(util-linux)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $EUID -ne 0 ]]; then
  echo "install.sh: missing ${missing[*]}; run as root: sudo $0" >&2
  exit 1
fi

guard=no
if [[ ! -x /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  guard=yes
fi
trap 'if [[ $guard == yes ]]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT

echo "install.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v dovecot >/dev/null || { echo "install.sh: dovecot still missing" >&2; exit 1; }
echo "install.sh: done ($(dovecot --version))" >&2
