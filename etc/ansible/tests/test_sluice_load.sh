#!/usr/bin/env bash
# The seed's pgbouncer acceptance, for sluice: `pgbench -i -s 10` through sluice, then 500
# clients x 30 s x 8 threads; there must be no failed transaction and no connection error.
#   SLUICE_HOST, SLUICE_PORT   where sluice listens        (default 127.0.0.1, 6432)
#   PGUSER, PGPASSWORD, PGDATABASE                         (libpq's own variables)
#   CLIENTS, THREADS, SECONDS_RUN                          (default 500, 8, 30)
# Exit 0 all good, 1 errors or failed transactions, 2 sluice unreachable, 3 a tool missing.
set -u
host=${SLUICE_HOST:-127.0.0.1}
port=${SLUICE_PORT:-6432}
clients=${CLIENTS:-500}
threads=${THREADS:-8}
seconds=${SECONDS_RUN:-30}
for tool in psql pgbench; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt install postgresql-client)"; exit 3; }
done
psql -h "$host" -p "$port" -X -At -c 'select 1' >/dev/null 2>&1 ||
  { echo "sluice at $host:$port is unreachable: $(psql -h "$host" -p "$port" -X -At -c 'select 1' 2>&1 | head -1)"; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "pgbench -i -s 10 through $host:$port"
if ! pgbench -i -s 10 -h "$host" -p "$port" >"$log" 2>&1; then
  echo "pgbench -i failed:"; tail -5 "$log"; exit 1
fi
echo "pgbench: $clients clients x $seconds s x $threads threads"
pgbench -h "$host" -p "$port" -c "$clients" -j "$threads" -T "$seconds" -n >"$log" 2>&1
rc=$?
grep -E '^(number of (transactions actually processed|failed transactions)|tps|latency average)' "$log"
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
conn_errors=$(grep -ciE 'connection to server|could not connect|server closed the connection|FATAL' "$log")
if ((rc != 0)) || [[ ${failed:-x} != 0 ]] || ((conn_errors > 0)); then
  echo "FAILED: pgbench exit $rc, failed transactions ${failed:-unknown}, connection errors $conn_errors"
  grep -m5 -iE 'error|fatal|abort' "$log"
  exit 1
fi
echo "OK: 0 failed transactions, 0 connection errors"
