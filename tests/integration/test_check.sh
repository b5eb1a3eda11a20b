#!/usr/bin/env bash
# sluice --check CONFIG: exit 0 for a valid file; else exit 1 after listing every error of the
# file, its %includes and its auth_file as file:line: message. Any user may run it (root too:
# it serves nothing).
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n' >"$T/userlist.txt"
printf '[databases]\nbench = host=127.0.0.1 port=%s dbname=bench\n' "$PGPORT" >"$T/dbs.ini"
cat >"$T/good.ini" <<INI
%include $T/dbs.ini
[pgbouncer]
listen_port = 6432
auth_type = scram-sha-256
auth_file = $T/userlist.txt
default_pool_size = 20
INI
out=$("$SLUICE_BIN" --check "$T/good.ini" 2>&1) || die "--check refused a valid file: $out"

sed 's/^default_pool_size = .*/default_pool_size = lots/' "$T/good.ini" >"$T/bad.ini"
printf 'max_client_conn = many\nno_such_key = 1\n' >>"$T/bad.ini"
rc=0
out=$("$SLUICE_BIN" --check "$T/bad.ini" 2>&1) || rc=$?
((rc == 1)) || die "--check of a bad file exited $rc: $out"
grep -qF "$T/bad.ini:6: invalid value \"lots\" for default_pool_size" <<<"$out" || die "no error for line 6: $out"
grep -qF "$T/bad.ini:7: invalid value \"many\" for max_client_conn" <<<"$out" || die "no error for line 7: $out"
grep -qF "$T/bad.ini:8: unknown parameter: no_such_key" <<<"$out" || die "no error for line 8: $out"

printf '"bench" bench\n' >"$T/userlist.txt"
rc=0
out=$("$SLUICE_BIN" --check "$T/good.ini" 2>&1) || rc=$?
((rc == 1)) && grep -qF "$T/userlist.txt:1:" <<<"$out" || die "a broken auth_file passed --check (rc $rc): $out"
pass
