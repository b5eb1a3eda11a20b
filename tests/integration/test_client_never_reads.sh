#!/usr/bin/env bash
# A client that asks for a large result and never reads it holds a server for as long as
# its socket stays open. With tcp_user_timeout set, the kernel gives up on it once its
# window has stayed shut that long (zero-window probes count against the timeout), sluice
# closes it and the server goes back to the pool: the next client of a one-server pool is
# served instead of waiting for query_wait_timeout.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 \
  tcp_user_timeout=1500 query_wait_timeout=120

cat >"$T/deaf.py" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[2])
from wire_client import Conn
c = Conn(int(sys.argv[1]), "bench", "bench", "bench", tls=len(sys.argv) > 4)
c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
# About 40 MB of rows: far more than the socket buffers on both sides hold.
c.query("select repeat('x', 1000) from generate_series(1, 40000)").send()
open(sys.argv[3], "w").close()
time.sleep(600)  # never reads again
PY
bg_to "$T/deaf.out" /usr/bin/python3 "$T/deaf.py" "$SLUICE_PORT" "$(cd "$(dirname -- "$0")" && pwd)" "$T/deaf.ready"
wait_until 15 "the deaf client's query" test -e "$T/deaf.ready" || die "deaf client: $(cat "$T/deaf.out")"
# The one server is the deaf client's: a second client waits until sluice lets it go.
[[ $(q "$SLUICE_PORT" "select 2") == 2 ]] || die "the next client was not served"
grep -qiE "closing because" "$SLUICE_LOG" || die "no log line for the deaf client's end"
note "$(grep -iE 'closing because' "$SLUICE_LOG" | head -1)"
stop_sluice

# ---- the same over TLS: what is pending is in the TLS engine and the socket, not a plain
# write, and the bound is the same
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/pooler.key" -out "$T/pooler.crt" -days 2 \
  -subj "/CN=localhost" 2>/dev/null || die "openssl req"
((IS_ROOT)) && chown postgres "$T/pooler.key" "$T/pooler.crt"
printf '"bench" "bench"\n' >"$T/users.txt"
SLUICE_USERLIST=$T/users.txt start_sluice pool_mode=transaction default_pool_size=1 \
  reserve_pool_size=0 tcp_user_timeout=1500 query_wait_timeout=120 auth_type=plain \
  client_tls_sslmode=require client_tls_key_file="$T/pooler.key" client_tls_cert_file="$T/pooler.crt"
bg_to "$T/deaf_tls.out" /usr/bin/python3 "$T/deaf.py" "$SLUICE_PORT" "$(cd "$(dirname -- "$0")" && pwd)" "$T/deaf_tls.ready" tls
wait_until 15 "the deaf TLS client's query" test -e "$T/deaf_tls.ready" ||
  die "deaf TLS client: $(cat "$T/deaf_tls.out")"
served_tls() { [[ $(PGSSLMODE=require PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c 'select 3' 2>/dev/null) == 3 ]]; }
served_tls || die "the next TLS client was not served while a deaf TLS client held the server"
grep -qiE "closing because" "$SLUICE_LOG" || die "no log line for the deaf TLS client's end"
pass "a client that never reads, plain or TLS, is closed by tcp_user_timeout; the pool's one server serves again"
