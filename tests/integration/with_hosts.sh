#!/usr/bin/env bash
# with_hosts.sh HOSTS CMD...: runs CMD (exec'd, same pid) in a private mount namespace where
# /etc/hosts is the file HOSTS and host names are looked up in it alone (nsswitch "hosts:
# files"), so a test decides what a name resolves to and can change it while CMD runs (write
# HOSTS in place: a new file, as sed -i makes, is not seen). Nothing outside the namespace
# changes. Needs root (unshare -m).
set -eu
[[ $# -ge 2 ]] || { echo "usage: $0 HOSTS CMD..." >&2; exit 2; }
[[ -f $1 ]] || { echo "$0: no file $1" >&2; exit 2; }
nss=$(mktemp /tmp/sluice-nss.XXXXXX)
grep -v '^hosts:' /etc/nsswitch.conf >"$nss" 2>/dev/null || true
echo 'hosts: files' >>"$nss"
chmod 644 "$nss"
exec unshare --mount --propagation private bash -euc '
  mount --bind "$1" /etc/hosts
  mount --bind "$2" /etc/nsswitch.conf
  rm -f "$2"  # the mount keeps it
  shift 2
  exec "$@"
' with_hosts "$1" "$nss" "${@:2}"
