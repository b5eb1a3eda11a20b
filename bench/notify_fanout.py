#!/usr/bin/env python3
"""The notify_fanout scenario: N asyncpg listeners of one channel on a target (PostgreSQL
itself, or a pooler in transaction mode), a notifier straight on PostgreSQL sending one NOTIFY
every --gap seconds; each notification's latency is from the moment its NOTIFY was sent (the
commit follows within that round trip) to its arrival at each listener. Appends one JSON line
(type "notify") to --append.
"""
import argparse
import asyncio
import json
import time

import asyncpg


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


async def run(a):
    name, port = a.target.split(":")
    dsn = f"postgresql://bench:bench@127.0.0.1:{port}/bench"
    sent = {}
    lat = []
    got = [0]

    def cb(conn, pid, ch, payload):
        t = time.perf_counter()
        lat.append(t - sent[int(payload)])
        got[0] += 1

    listeners = []
    t0 = time.perf_counter()
    for _ in range(a.listeners):
        c = await asyncpg.connect(dsn)
        await c.add_listener("fanout", cb)
        listeners.append(c)
    connect_s = time.perf_counter() - t0
    notifier = await asyncpg.connect(f"postgresql://bench:bench@127.0.0.1:{a.direct_port}/bench")
    for i in range(a.notifications):
        sent[i] = time.perf_counter()
        await notifier.execute(f"NOTIFY fanout, '{i}'")
        await asyncio.sleep(a.gap)
    want = a.listeners * a.notifications
    deadline = time.perf_counter() + 30
    while got[0] < want and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    for c in listeners + [notifier]:
        await c.close()
    lat.sort()
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {"type": "notify", "scenario": a.scenario, "target": name, "rep": a.rep,
            "ok": got[0] == want, "delivered": got[0], "expected": want,
            "listeners": a.listeners, "notifications": a.notifications,
            "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)), "max_ms": ms(lat[-1] if lat else None),
            "connect_s": round(connect_s, 3),
            **({} if got[0] == want else {"error": f"{got[0]} of {want} delivered within 30 s"})}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scenario", default="notify_fanout")
    p.add_argument("--target", required=True, help="name:port")
    p.add_argument("--direct-port", required=True, type=int)
    p.add_argument("--listeners", type=int, default=200)
    p.add_argument("--notifications", type=int, default=200)
    p.add_argument("--gap", type=float, default=0.01)
    p.add_argument("--rep", type=int, default=1)
    p.add_argument("--append", required=True)
    a = p.parse_args()
    try:
        rec = asyncio.run(run(a))
    except Exception as e:  # one line in the results, whatever happened
        rec = {"type": "notify", "scenario": a.scenario, "target": a.target.split(":")[0],
               "rep": a.rep, "ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
    with open(a.append, "a") as f:
        f.write(json.dumps(rec) + "\n")


main()
