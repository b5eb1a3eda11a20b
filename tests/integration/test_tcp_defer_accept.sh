#!/usr/bin/env bash
# tcp_defer_accept (on by default, as pgbouncer on Linux): a TCP connection that has sent
# nothing is not accepted, so it holds no session; off (here by RELOAD), it is.
# One shard: sessions are created in accept order, so when the console's own connection,
# opened after the silent one, is served, the silent one has been accepted if it ever will.
source "$(dirname -- "$0")/lib.sh"

start_sluice admin_users=bench sluice.workers=1
clients() {  # used_clients of SHOW LISTS, seen from a console session (itself one of them)
  PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d pgbouncer -c 'SHOW LISTS' |
    awk -F'|' '$1 == "used_clients" { print $2 }'
}
silent() {  # a connection that sends nothing, held open until the test ends
  exec {SILENT_FD}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || die "cannot connect"
}

silent
[[ $(clients) == 1 ]] || die "with tcp_defer_accept on, a silent connection got a session"
exec {SILENT_FD}>&-

sed -i 's/^\[pgbouncer\]$/[pgbouncer]\ntcp_defer_accept = 0/' "$SLUICE_INI"
[[ $(PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d pgbouncer -c RELOAD) == RELOAD ]] ||
  die "RELOAD failed"
silent
[[ $(clients) == 2 ]] || die "with tcp_defer_accept off, the silent connection got no session"
exec {SILENT_FD}>&-
stop_sluice
pass
