#!/usr/bin/env bash
# Dropping unused pools. autodb_idle_timeout: an auto-database (made from the "*" entry) none
# of whose pools has had a client or a busy server for this long is dropped, its idle servers
# closed; the next client registers it anew. A connected client keeps it. pool_idle_timeout:
# a pool with no client and no server for this long is freed; the next client makes a new one.
source "$(dirname -- "$0")/lib.sh"

DROPPED="dropping database 'bench' as it does not exist anymore or inactive auto-database"
registered() { grep -c 'registered new auto-database: db=bench' "$SLUICE_LOG"; }
dropped() { grep -cF "$DROPPED" "$SLUICE_LOG"; }

# ---- autodb_idle_timeout (server_idle_timeout off: only the drop closes the idle server)
SLUICE_DATABASES="* = host=127.0.0.1 port=$PGPORT" \
  start_sluice pool_mode=transaction autodb_idle_timeout=0.5 server_idle_timeout=0

# A client that stays connected (idle, no server in transaction mode) keeps the database.
sess_open A "$SLUICE_PORT"
sess_expect A "select 1;"
(($(registered) == 1)) || die "the auto-database was not registered once"
# Another client comes and goes while A stays: its connection is what the janitor sees.
out=$(q "$SLUICE_PORT" 'select 2') || die "a second client failed: $out"
sess_expect A "select 3;"
sess_close A

one_drop() { (($(dropped) >= 1)); }
wait_until 15 "the unused auto-database to be dropped" one_drop ||
  die "the auto-database was not dropped after autodb_idle_timeout"
no_servers() { (($(server_conns) == 0)); }
wait_until 15 "its idle server to be closed" no_servers ||
  die "the dropped auto-database's idle server is still open ($(server_conns))"
grep -qE 'S-0x[0-9a-f]+: bench/bench@.* closing because: database removed' "$SLUICE_LOG" ||
  die "no 'closing because: database removed' line for the idle server"

out=$(q "$SLUICE_PORT" 'select 4') || die "a client after the drop failed: $out"
[[ $out == 4 ]] || die "select 4 returned '$out'"
(($(registered) == 2)) || die "the auto-database was not registered anew after the drop"
(($(dropped) == 1)) || die "the database was dropped $(dropped) times while in use"
stop_sluice

# ---- pool_idle_timeout: the server goes at server_idle_timeout, then the pool
start_sluice pool_mode=transaction pool_idle_timeout=0.3 server_idle_timeout=0.2
out=$(q "$SLUICE_PORT" 'select 5') || die "a client failed: $out"
cleaned() { grep -c 'cleaning up idle pool for user bench on db bench because: pool idle timeout' "$SLUICE_LOG"; }
one_clean() { (($(cleaned) >= 1)); }
wait_until 15 "the empty pool to be freed" one_clean || die "the idle pool was not freed"
grep -q 'closing because: server idle timeout' "$SLUICE_LOG" ||
  die "the pool was freed before its server reached server_idle_timeout"
out=$(q "$SLUICE_PORT" 'select 6') || die "a client after the pool was freed failed: $out"
[[ $out == 6 ]] || die "select 6 returned '$out'"

pass
