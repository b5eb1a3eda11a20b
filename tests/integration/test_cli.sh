#!/usr/bin/env bash
# The command line, as pgbouncer's: -V, -h, refusing root, config errors with file:line.
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
INI
chmod 644 "$T/ok.ini"

if ((IS_ROOT)); then
  rc=0
  out=$(timeout 10 "$SLUICE_BIN" "$T/ok.ini" 2>&1) || rc=$?
  [[ $rc -ne 124 ]] || die "sluice started as root without -u (still running after 10 s)"
  [[ $rc -ne 0 ]] || die "sluice as root without -u exited with status 0: $out"
  grep -qi 'root' <<<"$out" || die "sluice as root without -u failed without mentioning root: $out"
  note "as root: exit $rc: $out"
else
  note "not root: the refuse-root check is skipped"
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
