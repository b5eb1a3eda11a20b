#!/usr/bin/env bash
# etc/hooks: sluice-reconnect calls POST /reconnect with the token file (exit 0; 1 with a
# wrong token or an unknown database); pg_auto_failover-watch follows a monitor's
# pgautofailover.get_primary() and calls it once when the primary changes. The monitor here
# is a database with a get_primary() of the same signature over a table the test updates.
source "$(dirname -- "$0")/lib.sh"
command -v curl >/dev/null || die "curl is needed (tests/run_all installs it)"
hooks=$(cd "$(dirname -- "$0")/../../etc/hooks" && pwd)

HP=$(free_port)
printf 'hook-token-%s\n' "$RANDOM$RANDOM" >"$T/token"
((IS_ROOT)) && chown postgres "$T/token"
chmod 600 "$T/token"
start_sluice sluice.http_listen_port=$HP "sluice.http_auth_token_file=$T/token"
wait_until 10 "the HTTP listener" port_open "$HP" || die "nothing listens on HTTP port $HP"
export SLUICE_HTTP=http://127.0.0.1:$HP SLUICE_TOKEN_FILE=$T/token SLUICE_TRIES=2
reconnects() { grep -c "RECONNECT 'bench' command issued over HTTP" "$SLUICE_LOG"; }

[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "no query through sluice"
out=$("$hooks/sluice-reconnect" bench 2>&1) || die "sluice-reconnect bench failed: $out"
(($(reconnects) == 1)) || die "sluice-reconnect did not reach POST /reconnect: $out"
out=$("$hooks/sluice-reconnect" nosuchdb 2>&1) && die "sluice-reconnect of an unknown database succeeded"
[[ $out == *404* ]] || die "sluice-reconnect nosuchdb: $out"
printf 'wrong\n' >"$T/wrong"
out=$(SLUICE_TOKEN_FILE=$T/wrong "$hooks/sluice-reconnect" bench 2>&1) && die "a wrong token worked"
[[ $out == *401* ]] || die "sluice-reconnect with a wrong token: $out"
grep -qF "$(cat "$T/token")" "$SLUICE_LOG" && die "the token reached the log"

# A monitor: get_primary(formation, group) as pg_auto_failover's, over a table.
pg_direct "drop database if exists pgaf_monitor" >/dev/null
pg_direct "create database pgaf_monitor" >/dev/null
pg_direct "create schema pgautofailover;
  create table pgautofailover.node (id bigint, host text, port int);
  insert into pgautofailover.node values (1, 'node1', 5432);
  create function pgautofailover.get_primary(formation_id text default 'default',
      group_id int default 0, out primary_node_id bigint, out primary_name text,
      out primary_host text, out primary_port int)
    language sql as \$\$ select id, 'node_' || id, host, port from pgautofailover.node \$\$;" \
  pgaf_monitor >/dev/null
export PGAF_MONITOR="postgresql://postgres@/pgaf_monitor?host=$PGSOCK&port=$PGPORT"
export PGAF_INTERVAL=0.1 SLUICE_DATABASES=bench
bg_to "$T/watch.log" "$hooks/pg_auto_failover-watch"
watcher=$BG_PID
wait_until 10 "the watcher to read the primary" grep -q 'primary 1 node1:5432' "$T/watch.log" ||
  die "the watcher did not see the first primary: $(cat "$T/watch.log")"
(($(reconnects) == 1)) || die "the watcher reconnected without a change"

# A failover: no primary for a while (the function fails), then node 2.
pg_direct "alter table pgautofailover.node rename to moved" pgaf_monitor >/dev/null
wait_until 10 "the watcher to see no primary" grep -q 'the monitor reports no primary' "$T/watch.log" ||
  die "the watcher did not notice the missing primary: $(cat "$T/watch.log")"
proc_alive "$watcher" || die "the watcher exited while the monitor had no primary: $(cat "$T/watch.log")"
pg_direct "alter table pgautofailover.moved rename to node;
  update pgautofailover.node set id = 2, host = 'node2', port = 5433" pgaf_monitor >/dev/null
wait_until 10 "the watcher to reconnect sluice" eval '(($(reconnects) == 2))' ||
  die "no RECONNECT after the primary changed: $(cat "$T/watch.log")"
grep -q 'new primary 2 node2:5433 (was 1 node1:5432)' "$T/watch.log" ||
  die "the watcher's log: $(cat "$T/watch.log")"
[[ $(q "$SLUICE_PORT" 'select 2') == 2 ]] || die "no query after the reconnect"
kill "$watcher"
(($(reconnects) == 2)) || die "the watcher reconnected more than once for one change"
pg_direct "drop database pgaf_monitor" >/dev/null
pass "sluice-reconnect, pg_auto_failover-watch"
