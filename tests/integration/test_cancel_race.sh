#!/usr/bin/env bash
# Cancels still in flight when their query has already ended must not reach the next client
# of the server: with one server, client A's query is cancelled by 50 cancel requests at
# once while client B waits for that server; B's query must run to its end. (The server a
# cancel is still under way for is closed instead of being handed over.)
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 log_disconnections=1
/usr/bin/python3 - "$SLUICE_PORT" <<'PY' || die "the cancel race went wrong"
import sys, threading, time, psycopg
port = sys.argv[1]
def conn():
    return psycopg.connect(host="127.0.0.1", port=port, user="bench", password="bench",
                           dbname="bench", autocommit=True)
a, b = conn(), conn()
result = {}
def run_a():
    try:
        a.execute("select pg_sleep(5)")
        result["a"] = "finished"
    except psycopg.errors.QueryCanceled:
        result["a"] = "canceled"
def run_b():
    try:
        b.execute("select pg_sleep(1)")
        result["b"] = "finished"
    except Exception as e:
        result["b"] = repr(e)
ta = threading.Thread(target=run_a); ta.start()
time.sleep(0.5)                      # A holds the only server
tb = threading.Thread(target=run_b); tb.start()
time.sleep(0.5)                      # B is queued behind it
cancels = [threading.Thread(target=a.cancel) for _ in range(50)]
for t in cancels: t.start()
for t in cancels: t.join()
ta.join(); tb.join()
if result != {"a": "canceled", "b": "finished"}:
    sys.exit(f"expected A canceled and B finished, got {result}")
print("ok", result)
PY
pass "50 cancels of one query, the next client's query untouched"
