#!/usr/bin/env bash
# sluice.toml: the TOML that --convert-config prints from a pgbouncer.ini passes --check and
# runs the same (pool limits included), and reloads on SIGHUP like the ini.
source "$(dirname -- "$0")/lib.sh"

export SLUICE_TOML=1
start_sluice pool_mode=transaction default_pool_size=2 server_idle_timeout=10min sluice.workers=2
[[ $SLUICE_INI == *.toml ]] || die "sluice was not started from a TOML file"
grep -qx 'default_pool_size = 2' "$SLUICE_INI" || die "default_pool_size is not a number in: $(cat "$SLUICE_INI")"
grep -qx "server_idle_timeout = '10min'" "$SLUICE_INI" || grep -qx 'server_idle_timeout = "10min"' "$SLUICE_INI" ||
  die "server_idle_timeout did not keep its unit: $(grep idle "$SLUICE_INI")"
out=$("$SLUICE_BIN" --check "$SLUICE_INI" 2>&1) || die "--check refused the converted TOML: $out"
[[ $(q "$SLUICE_PORT" 'select 41') == 41 ]] || die "sluice from TOML does not serve"

# the pool size from the TOML holds: 4 clients at once open 2 servers, which stay idle after
# (server_idle_timeout is 10 min); with the default size of 20 they would open 4
pids=()
for i in 1 2 3 4; do bg q "$SLUICE_PORT" 'select pg_sleep(0.3)'; pids+=("$BG_PID"); done
for p in "${pids[@]}"; do wait "$p" || die "a client failed"; done
n=$(server_conns)
((n == 2)) || die "$n server connections after 4 clients with default_pool_size = 2 from the TOML"

# SIGHUP re-reads the TOML
sed -i 's/^default_pool_size = .*/default_pool_size = 3/' "$SLUICE_INI"
kill -HUP "$SLUICE_PID"
wait_until 15 "the reload" grep -qF 'default_pool_size 2 -> 3' "$SLUICE_LOG" || die "the TOML reload was not applied"
[[ $(q "$SLUICE_PORT" 'select 42') == 42 ]] || die "sluice stopped serving after the TOML reload"
stop_sluice
pass
