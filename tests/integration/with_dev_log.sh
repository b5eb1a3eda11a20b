#!/usr/bin/env bash
# with_dev_log.sh SOCKET CMD...: runs CMD (exec'd, same pid) in a private mount namespace
# whose /dev/log is SOCKET, so that syslog(3) in CMD writes there. The rest of /dev is the
# same as outside; nothing outside the namespace changes. Needs root (unshare -m).
#
# /dev cannot take a new entry without changing it for everyone, so inside the namespace a
# tmpfs covers /dev and every entry of the real /dev is bound (or, for a symlink, copied)
# back into it, next to the new log.
set -eu
[[ $# -ge 2 ]] || { echo "usage: $0 SOCKET CMD..." >&2; exit 2; }
[[ -S $1 ]] || { echo "$0: $1 is not a socket" >&2; exit 2; }
exec unshare --mount --propagation private bash -euc '
  sock=$1
  shift
  real=$(mktemp -d /tmp/sluice-realdev.XXXXXX)
  mount --rbind /dev "$real"
  mount -t tmpfs -o mode=755 sluice-dev /dev
  for e in "$real"/* "$real"/.[!.]*; do
    [[ -e $e || -L $e ]] || continue
    n=/dev/${e##*/}
    if [[ -L $e ]]; then
      cp -P "$e" "$n"
    elif [[ -d $e ]]; then
      mkdir "$n" && mount --rbind "$e" "$n"
    else
      touch "$n" && mount --bind "$e" "$n"
    fi
  done
  touch /dev/log
  mount --bind "$sock" /dev/log
  # The entries bound above stay; the staging mount and its directory in /tmp go.
  umount -l "$real" && rmdir "$real"
  exec "$@"
' with_dev_log "$@"
