#!/usr/bin/env python3
"""LISTEN/NOTIFY through sluice in transaction mode, as applications use it.

    notify_clients.py CASE PORT PG_PORT [ARGS]

Cases (one line each on success; exit 1 with the reason otherwise):
  drivers     psycopg 3 (conn.notifies) and asyncpg (add_listener) listeners; notifications
              sent through sluice (pg_notify in a transaction, NOTIFY alone) and straight to
              PostgreSQL; a LISTEN in a rolled-back transaction and one after an error take no
              effect; UNLISTEN stops a channel; a 7,999-byte payload intact; the notifying
              backend's pid as PostgreSQL sends it
  many N      N asyncpg listeners of one channel receive one notification each
  deaf        a raw client LISTENs and never reads; 8 MB of notifications are sent while an
              asyncpg listener of the same channel gets every one
  relisten    a listener gets a notification, waits for ARGS' file to say the listening
              connection was cut and is back, then gets the next one
Notifications are checked in order, with a sentinel sent last: when it arrives, everything
committed before it has (PostgreSQL delivers in commit order), so nothing waits on time.
"""
import asyncio
import os
import socket
import struct
import sys
import time

import asyncpg
import psycopg

case, port, pg_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
args = sys.argv[4:]
DSN = f"postgresql://bench:bench@127.0.0.1:{port}/bench"
DIRECT = f"postgresql://bench:bench@127.0.0.1:{pg_port}/bench"


def fail(msg):
    print(f"FAIL {case}: {msg}", flush=True)
    sys.exit(1)


async def until(got, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            fail(f"timed out; got {got}")
        await asyncio.sleep(0.02)


async def drivers():
    got = []
    a = await asyncpg.connect(DSN)
    await a.add_listener("ev", lambda c, pid, ch, p: got.append((ch, p, pid)))
    # psycopg 3: LISTEN inside a rolled-back transaction, and after an error, then for real.
    p = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
    async with p.transaction(force_rollback=True):
        await p.execute("LISTEN ghost")
    try:
        await p.execute("LISTEN ghost2; select 1/0")
    except psycopg.errors.DivisionByZero:
        pass
    await p.execute("LISTEN ev")
    await p.execute("LISTEN \"Quoted Ch\"")
    pgot = []

    async def read_psycopg():
        async for n in p.notifies():
            pgot.append((n.channel, n.payload, n.pid))
            if n.payload == "end":
                return
    reader = asyncio.create_task(read_psycopg())
    n = await asyncpg.connect(DSN)  # the notifier, through sluice
    d = await asyncpg.connect(DIRECT)
    async with n.transaction():
        await n.execute("select pg_notify('ev', 'one')")
        await n.execute("select pg_notify('ghost', 'x'), pg_notify('ghost2', 'x')")
    await n.execute("NOTIFY ev, 'two'")
    dpid = await d.fetchval("select pg_backend_pid()")
    await d.execute("NOTIFY ev, 'three'")
    await d.execute("NOTIFY \"Quoted Ch\", 'q'")
    big = "b" * 7999
    await n.execute(f"select pg_notify('ev', '{big}')")
    # asyncpg's listener leaves the channel once it has the last one (an UNLISTEN that runs
    # before a notification is delivered drops it, in PostgreSQL too).
    await until(got, lambda: len(got) == 4)
    await a.execute("UNLISTEN ev")
    await d.execute("NOTIFY ev, 'end'")
    await asyncio.wait_for(reader, 30)
    want = [("ev", "one"), ("ev", "two"), ("ev", "three"), ("Quoted Ch", "q"), ("ev", big), ("ev", "end")]
    if [(c, pl) for c, pl, _ in pgot] != want:
        fail(f"psycopg got {[(c, pl[:10]) for c, pl, _ in pgot]}")
    if [pid for c, pl, pid in pgot if pl == "three"] != [dpid]:
        fail(f"the pid of a notification from PostgreSQL: {pgot[2][2]} (backend {dpid})")
    await asyncio.sleep(0)  # asyncpg delivers from its own callbacks
    if [(c, pl) for c, pl, _ in got] != [("ev", "one"), ("ev", "two"), ("ev", "three"), ("ev", big)]:
        fail(f"asyncpg got {[(c, pl[:10]) for c, pl, _ in got]} (after UNLISTEN: nothing)")
    print("drivers: psycopg and asyncpg listeners got exactly their committed notifications", flush=True)


async def many(count):
    conns, got = [], [0] * count
    for i in range(count):
        c = await asyncpg.connect(DSN)
        def cb(conn, pid, ch, payload, i=i):
            got[i] += 1
        await c.add_listener("fan", cb)
        conns.append(c)
    d = await asyncpg.connect(DIRECT)
    await d.execute("NOTIFY fan, 'hello'")
    await until(sum(got), lambda: all(g >= 1 for g in got))
    if any(g != 1 for g in got):
        fail(f"counts {sorted(set(got))}")
    print(f"many: {count} listeners got the notification once each", flush=True)


def raw_listener():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from wire_client import Conn
    c = Conn(port, "bench", "bench", "bench")
    c.query("LISTEN flood").send()
    if c.replies() != ["C LISTEN", "Z I"]:
        fail("raw LISTEN")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return c


async def deaf():
    c = raw_listener()  # never reads again
    got = []
    a = await asyncpg.connect(DSN)
    await a.add_listener("flood", lambda conn, pid, ch, p: got.append(p))
    d = await asyncpg.connect(DIRECT)
    # 8.4 MB: more than the kernel's socket buffers hold (autotuned up to 4 MB each way on
    # loopback) and sluice's limit of 1 MiB unread per client.
    payload = "x" * 7000
    for i in range(0, 1200, 20):
        await d.execute(";".join(f"NOTIFY flood, '{k}:{payload}'" for k in range(i, i + 20)))
    await d.execute("NOTIFY flood, 'end'")
    await until(len(got), lambda: got and got[-1] == "end")
    if len(got) != 1201:
        fail(f"the reading listener got {len(got)} of 1201")
    # The deaf one was closed: its socket reads EOF (or a reset) once its buffer is drained.
    # Its 4 KiB receive window is far below loopback's 64 KiB MSS: reading through it leaves
    # the sender on its backed-off zero-window probes (minutes). A wide buffer reopens it.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    c.sock.settimeout(30)
    try:
        while c.sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    print("deaf: a client that does not read was closed, the other got all 1201", flush=True)


async def relisten(flag):
    got = []
    a = await asyncpg.connect(DSN)
    await a.add_listener("re", lambda conn, pid, ch, p: got.append(p))
    d = await asyncpg.connect(DIRECT)
    await d.execute("NOTIFY re, 'before'")
    await until(got, lambda: got == ["before"])
    print("relisten: first notification", flush=True)
    await until(got, lambda: os.path.exists(flag), timeout=60)
    await d.execute("NOTIFY re, 'after'")
    await until(got, lambda: got == ["before", "after"])
    print("relisten: notified again after the listening connection was re-established", flush=True)


if case == "drivers":
    asyncio.run(drivers())
elif case == "many":
    asyncio.run(many(int(args[0])))
elif case == "deaf":
    asyncio.run(deaf())
elif case == "relisten":
    asyncio.run(relisten(args[0]))
else:
    fail("unknown case")
