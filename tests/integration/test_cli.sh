#!/usr/bin/env bash
# The command line, as pgbouncer's: -V, -h, refusing root, -u USER (privileges dropped before
# listening), config errors with file:line.
source "$(dirname -- "$0")/lib.sh"

rc=0
out=$(timeout 10 "$SLUICE_BIN" -V 2>&1) || rc=$?
[[ $rc -eq 0 ]] || die "sluice -V exited with $rc: $out"
grep -qE '[0-9]+\.[0-9]+' <<<"$out" || die "sluice -V printed no version: '$out'"
note "-V: $out"

rc=0
out=$(timeout 10 "$SLUICE_BIN" -h 2>&1) || rc=$?
[[ $rc -eq 0 ]] || die "sluice -h exited with $rc"
grep -qi 'usage' <<<"$out" || die "sluice -h printed no usage: '$out'"

# A valid config that would start (free port, no Unix socket) if nothing stopped it.
port=$(free_port)
cat >"$T/ok.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $T/users.txt
INI
echo '"bench" "bench"' >"$T/users.txt"
chmod 644 "$T/ok.ini" "$T/users.txt"

if ((IS_ROOT)); then
  rc=0
  out=$(timeout 10 "$SLUICE_BIN" "$T/ok.ini" 2>&1) || rc=$?
  [[ $rc -ne 124 ]] || die "sluice started as root without -u (still running after 10 s)"
  [[ $rc -ne 0 ]] || die "sluice as root without -u exited with status 0: $out"
  grep -qi 'root' <<<"$out" || die "sluice as root without -u failed without mentioning root: $out"
  note "as root: exit $rc: $out"

  # -u: the process is the named user, with that user's groups only, before it listens (so
  # before any client can reach it), and it serves as that user.
  "$SLUICE_BIN" -u postgres "$T/ok.ini" >"$T/u.out" 2>&1 &
  upid=$!
  _BG_PIDS+=("$upid")
  wait_until 10 "sluice -u postgres to listen" port_open "$port" ||
    die "sluice -u postgres did not start: $(cat "$T/u.out")"
  pg_uid=$(id -u postgres) pg_gid=$(id -g postgres)
  uids=$(awk '/^Uid:/{print $2, $3, $4, $5}' "/proc/$upid/status")
  gids=$(awk '/^Gid:/{print $2, $3, $4, $5}' "/proc/$upid/status")
  groups=$(awk '/^Groups:/{$1=""; print}' "/proc/$upid/status" | xargs -n1 | sort -n | xargs)
  [[ $uids == "$pg_uid $pg_uid $pg_uid $pg_uid" ]] || die "-u postgres: uids $uids (expected $pg_uid everywhere)"
  [[ $gids == "$pg_gid $pg_gid $pg_gid $pg_gid" ]] || die "-u postgres: gids $gids"
  want_groups=$(id -G postgres | xargs -n1 | sort -n | xargs)
  [[ $groups == "$want_groups" ]] || die "-u postgres: supplementary groups '$groups', expected '$want_groups'"
  [[ $(PGPASSWORD=x psql -X -At -h 127.0.0.1 -p "$port" -U bench -d bench -c "select current_user") == bench ]] ||
    die "sluice -u postgres did not serve"
  _kill_pid "$upid"
  note "-u postgres: uids $uids, gids $gids, groups '$groups'"
else
  note "not root: the refuse-root and -u checks are skipped"
fi

# Unknown key on line 3 of t.ini.
cat >"$T/t.ini" <<INI
[pgbouncer]
listen_port = $port
no_such_setting = 1
INI
chmod 644 "$T/t.ini"
rc=0
out=$(cd "$T" && timeout 10 "${AS_PG[@]}" "$SLUICE_BIN" t.ini 2>&1) || rc=$?
[[ $rc -ne 124 ]] || die "sluice started with an unknown key in its config (still running after 10 s)"
[[ $rc -ne 0 ]] || die "sluice accepted a config with an unknown key: $out"
grep -qF 't.ini:3' <<<"$out" || die "the config error does not say where (expected 't.ini:3'): $out"
note "unknown key: exit $rc: $out"

pass
