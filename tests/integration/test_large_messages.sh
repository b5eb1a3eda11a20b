#!/usr/bin/env bash
# Large messages both ways, with small socket buffers so that writes come back partial and
# the relay has to wait for the socket to drain: a ~20 MB result must reach the client
# byte for byte as it does directly, and a 4 MB query must reach the server whole.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction tcp_socket_buffer=4096

big_result="select repeat('x', 1000) || i from generate_series(1, 20000) i"
want=$(pg_direct "$big_result" bench | md5sum)
got=$(q "$SLUICE_PORT" "$big_result" | md5sum) || die "the large select through sluice failed"
[[ $got == "$want" ]] || die "a 20 MB result differs through sluice (md5 $got, direct $want)"

sql=$T/big_query.sql
{ printf "select length('"; head -c 4194304 /dev/zero | tr '\0' 'y'; printf "');\n"; } >"$sql"
out=$(PGPASSWORD=bench psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench \
  -f "$sql" 2>&1) || die "the 4 MB query through sluice failed: ${out:0:300}"
[[ $out == 4194304 ]] || die "the 4 MB query returned '${out:0:300}'"

out=$(q "$SLUICE_PORT" 'select 42') || die "a small query after the large ones failed: $out"
[[ $out == 42 ]] || die "select 42 returned '$out'"
pass
