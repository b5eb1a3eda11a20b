#!/usr/bin/env bash
# A queue served from two shards at once opens one server per waiting client, not more:
# clients that log in together on both shards each queue, each shard plans its launches from
# the pool's counts, and a launch checks again, under the lock that counts it, that a waiter
# is still uncovered. Without that check both shards launched for the same waiters (PgBouncer's
# suite counts "new connection to server" lines for two concurrent clients).
source "$(dirname -- "$0")/lib.sh"

N=40
for round in 1 2 3 4 5; do
  start_sluice pool_mode=transaction default_pool_size=100 reserve_pool_size=0 \
    query_wait_timeout=60 sluice.workers=2
  # N clients log in at once and each opens a transaction; none ends before all N hold a
  # server, so no server is released and reused: exactly N are needed.
  out=$(/usr/bin/python3 - "$SLUICE_PORT" "$N" <<'EOF'
import asyncio, sys
import psycopg

port, n = int(sys.argv[1]), int(sys.argv[2])
dsn = f"host=127.0.0.1 port={port} dbname=bench user=bench password=bench"

async def main():
    all_in = asyncio.Event()
    pids = []

    async def client():
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            async with conn.transaction():
                cur = await conn.execute("select pg_backend_pid()")
                pids.append((await cur.fetchone())[0])
                if len(pids) == n:
                    all_in.set()
                await all_in.wait()

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(n))), 60)
    print(len(set(pids)))

asyncio.run(main())
EOF
  ) || die "round $round: the clients failed: $out"
  [[ $out == "$N" ]] || die "round $round: $N clients in open transactions got $out backends"
  opened=$(grep -c "new connection to server" "$SLUICE_LOG" || true)
  ((opened == N)) || die "round $round: $N waiting clients opened $opened server connections"
  stop_sluice
done
pass "$N concurrent waiters on two shards opened $opened servers"
