#!/usr/bin/env bash
# Frontend messages far above 64 KiB (large_messages.py: 1 MB and 32 MB parameters, a 16 MB
# query text, 65,535 parameters, pipelines, COPY, Describe/Close/Execute around a large Bind,
# FunctionCall) in every pool mode, with and without statement renaming, plaintext and TLS;
# then a 256 MB parameter through renaming, with sluice's peak memory checked: the Bind
# streams, so sluice must not hold it.
source "$(dirname -- "$0")/lib.sh"
export PYTHONPATH=$(dirname -- "${BASH_SOURCE[0]}")
cases() { /usr/bin/python3 "$(dirname -- "${BASH_SOURCE[0]}")/large_messages.py" "$@"; }

pg_direct "create table if not exists large_copy (x text); grant all on large_copy to bench" bench \
  >/dev/null || die "create table large_copy"

C=$T/certs
mkdir -p "$C"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/pooler.key" -out "$C/pooler.crt" -days 2 \
  -subj "/CN=localhost" 2>/dev/null || die "openssl req"
chmod 600 "$C/pooler.key"
((IS_ROOT)) && chown -R postgres "$C"
chmod 755 "$C"
tls=(client_tls_sslmode=require client_tls_key_file="$C/pooler.key"
  client_tls_cert_file="$C/pooler.crt")

run() {  # DESCRIPTION CASE-ARGS -- SLUICE-SETTINGS
  local what=$1 a=()
  shift
  while [[ $1 != -- ]]; do a+=("$1"); shift; done
  shift
  start_sluice "$@" query_wait_timeout=60
  cases "$SLUICE_PORT" "$PGPORT" "${a[@]}" || die "$what: a step failed (above)"
  stop_sluice
  note "$what: every step answered"
}

run "transaction mode, renaming" -- pool_mode=transaction max_prepared_statements=200
run "transaction mode, renaming, TLS" --tls -- pool_mode=transaction max_prepared_statements=200 "${tls[@]}"
run "transaction mode, no renaming" -- pool_mode=transaction max_prepared_statements=0
run "statement mode, renaming" --no-copy-tx -- pool_mode=statement max_prepared_statements=200
run "session mode" -- pool_mode=session max_prepared_statements=200

# Over max_packet_size: PgBouncer's error, then the connection ends; outside a transaction and
# inside one (a server linked, which is then closed, not reused), renaming on and off.
oversized() {  # PORT IN_TRANSACTION: what comes back after a Bind header declaring 2 MB
  /usr/bin/python3 - "$@" <<'PY'
import struct, sys
from wire_client import Conn
c = Conn(int(sys.argv[1]), "bench", "bench", "bench")
if sys.argv[2] == "1":
    assert c.query("begin").run() == ["C BEGIN", "Z T"]
c.sock.sendall(b"B" + struct.pack("!I", 2 << 20) + b"\0s\0" + b"v" * 1000)
c.pending_ready = 1
print(" ".join(c.replies()))
PY
}
for mps in 0 200; do
  start_sluice pool_mode=transaction max_packet_size=1048576 max_prepared_statements=$mps
  for tx in 0 1; do
    got=$(oversized "$SLUICE_PORT" $tx 2>&1)
    [[ $got == "E 08P01 EOF" ]] || die "a 2 MB Bind over max_packet_size (in transaction: $tx, renaming: $mps) got '$got'"
  done
  grep -q "bad packet header" "$SLUICE_LOG" || die "the refused message is not logged"
  [[ $(q "$SLUICE_PORT" "select 5") == 5 ]] || die "no query after the refused ones"
  stop_sluice
done
note "a message over max_packet_size: 08P01 bad packet header, linked or not"

# 256 MB through renaming, in a fresh process: its peak resident memory may grow by what is
# in flight (buffers, the 64 KiB reads), not by the parameter.
start_sluice pool_mode=transaction max_prepared_statements=200
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$SLUICE_PID/status"; }
q "$SLUICE_PORT" "select 1" >/dev/null || die "select 1"
before=$(hwm)
cases "$SLUICE_PORT" "$PGPORT" --huge || die "the 256 MB parameter: a step failed (above)"
after=$(hwm)
grow=$(((after - before) / 1024))
note "peak RSS ${before} kB -> ${after} kB over two 256 MB Binds"
((grow < 64)) || die "sluice's peak memory grew by $grow MB: a large Bind was held, not streamed"
stop_sluice
pass "large messages in every mode; 256 MB Bind streamed (peak RSS +$grow MB)"
