#!/usr/bin/env bash
# 10,000 logged-in clients held at once (the test raises its own descriptor limit and
# sluice's): every one gets ReadyForQuery, one of them still runs a query, a new client is
# still served, and the memory each costs is reported.
source "$(dirname -- "$0")/lib.sh"
N=10000
need=$((N + 500))
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || ((hard >= need)) || ulimit -Hn "$need" 2>/dev/null ||
  die "the descriptor limit is $hard and cannot be raised to $need"
ulimit -n "$need" || die "cannot raise the open files limit to $need"

SLUICE_WRAP=(prlimit --nofile="$need:$need" --)
echo '"bench" "bench"' >"$T/users.txt"  # trust for clients; the password for the server
SLUICE_USERLIST=$T/users.txt
start_sluice auth_type=trust max_client_conn=$((N + 100)) default_pool_size=2
rss() { awk '/VmRSS/{print $2}' "/proc/$SLUICE_PID/status"; }
rss0=$(rss)

cat >"$T/many.py" <<'PY'
import asyncio, struct, sys
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
startup = b"user\0bench\0database\0bench\0\0"
startup = struct.pack("!ii", len(startup) + 8, 196608) + startup

async def login(sem):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(startup)
        buf = b""
        while True:  # up to ReadyForQuery
            chunk = await r.read(4096)
            if not chunk:
                raise RuntimeError("closed during login: %r" % buf[:200])
            buf += chunk
            if buf.endswith(b"Z\0\0\0\x05I"):
                return r, w

async def main():
    sem = asyncio.Semaphore(200)
    conns = await asyncio.gather(*(login(sem) for _ in range(n)))
    r, w = conns[-1]
    q = b"select 4242\0"
    w.write(b"Q" + struct.pack("!i", len(q) + 4) + q)
    buf = b""
    while not buf.endswith(b"Z\0\0\0\x05I"):
        chunk = await r.read(4096)
        if not chunk:
            raise RuntimeError("closed during the query")
        buf += chunk
    if b"4242" not in buf:
        raise RuntimeError("query answer: %r" % buf)
    open(ready, "w").write(str(len(conns)))
    await asyncio.sleep(600)  # held until the test kills it

asyncio.run(main())
PY
bg_to "$T/many.out" /usr/bin/python3 "$T/many.py" "$SLUICE_PORT" "$N" "$T/ready"
wait_until 300 "$N clients logged in" bash -c "test -s $T/ready || ! kill -0 $BG_PID" || die "clients: $(tail -3 "$T/many.out")"
[[ -s $T/ready ]] || die "clients: $(tail -5 "$T/many.out")"
[[ $(cat "$T/ready") == "$N" ]] || die "only $(cat "$T/ready") clients"
rss1=$(rss)
[[ $(q "$SLUICE_PORT" "select 1") == 1 ]] || die "a new client was not served with $N held"
per=$(((rss1 - rss0) * 1024 / N))
note "$N clients held: RSS $rss0 -> $rss1 kB, $per bytes per client"
pass "$N clients held, a query on one, a new client served; $per bytes of RSS per client"
