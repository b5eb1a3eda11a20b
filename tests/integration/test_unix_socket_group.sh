#!/usr/bin/env bash
# unix_socket_group: the Unix socket file belongs to that group after bind, and clients can
# use it; a group that does not exist stops the startup with an error naming it.
source "$(dirname -- "$0")/lib.sh"

# A group sluice's user belongs to other than its primary one, so that the change shows.
run_as=$( ((IS_ROOT)) && echo postgres || id -un)
primary=$(id -gn "$run_as")
group=''
for g in $(id -Gn "$run_as"); do [[ $g != "$primary" ]] && { group=$g; break; }; done
[[ -n $group ]] || die "$run_as belongs to no group besides $primary: cannot see a group change"

mkdir -p "$T/sock"
((IS_ROOT)) && chown postgres:postgres "$T/sock"
start_sluice "unix_socket_dir=$T/sock" "unix_socket_group=$group"
sock=$T/sock/.s.PGSQL.$SLUICE_PORT
[[ -S $sock ]] || die "no socket $sock"
[[ $(stat -c %G "$sock") == "$group" ]] || die "socket group is $(stat -c %G "$sock"), expected $group"
[[ $(PGPASSWORD=bench psql -X -At -h "$T/sock" -p "$SLUICE_PORT" -U bench -d bench -c 'select 7') == 7 ]] ||
  die "no query through the Unix socket"
stop_sluice

# Without the setting the group is the one the file was created with.
start_sluice "unix_socket_dir=$T/sock"
[[ $(stat -c %G "$T/sock/.s.PGSQL.$SLUICE_PORT") == "$primary" ]] ||
  die "without unix_socket_group the socket group is $(stat -c %G "$T/sock/.s.PGSQL.$SLUICE_PORT")"
stop_sluice

# An unknown group: a FATAL line naming it, exit status 1, no socket left behind.
bad_port=$(free_port)
printf '[databases]\nbench = host=127.0.0.1 port=%s dbname=bench\n[pgbouncer]\nauth_type = trust\nlisten_addr =\nlisten_port = %s\nunix_socket_dir = %s\nunix_socket_group = sluice_no_such_group\n' \
  "$PGPORT" "$bad_port" "$T/sock" >"$T/bad.ini"
chmod 644 "$T/bad.ini"
rc=0
out=$(timeout 10 "${AS_PG[@]}" "$SLUICE_BIN" "$T/bad.ini" 2>&1) || rc=$?
((rc == 1)) || die "an unknown group did not stop the startup (status $rc): $out"
grep -qE 'FATAL unix_socket_group sluice_no_such_group: no such group' <<<"$out" ||
  die "no clear error for the unknown group: $out"
[[ ! -e $T/sock/.s.PGSQL.$bad_port ]] || die "the socket file was left behind"
pass
