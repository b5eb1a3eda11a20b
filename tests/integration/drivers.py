#!/usr/bin/env python3
"""What applications do on one connection, in a row, through sluice, with psycopg 3 and
asyncpg (their default statement handling: asyncpg prepares every query under a name of its
own, psycopg from a query's sixth run):

    drivers.py PORT PG_PORT

  1. a 1 MB parameter;
  2. a cancel of a running query (sent as libpq and asyncpg send it: on a new connection);
  3. a pipeline (psycopg's pipeline mode; asyncpg's executemany);
  4. SET LOCAL inside a transaction, seen there and gone in the next transaction;
  5. an error, then the connection recovers (outside and inside a transaction).

Every step runs even if an earlier one failed (a failure must not hide the next); one line
per step; exit 1 if any failed. PG_PORT (straight to PostgreSQL) is only used to see when the
query to cancel is running.
"""
import asyncio
import sys
import threading
import time
import traceback

import asyncpg
import psycopg
from psycopg import errors

MB = 1 << 20
port, pg_port = int(sys.argv[1]), int(sys.argv[2])
failed = []


def report(name, fn):
    try:
        fn()
        print(f"ok   {name}", flush=True)
    except Exception as e:
        failed.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {str(e)[:300]}", flush=True)
        traceback.print_exc(limit=3)


def check(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def wait_running(marker):
    """Until a backend runs the query that contains `marker` (seen straight on PostgreSQL)."""
    with psycopg.connect(f"host=127.0.0.1 port={pg_port} user=bench password=bench dbname=bench",
                         autocommit=True) as d:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            n = d.execute("select count(*) from pg_stat_activity where state = 'active' and "
                          "query like %s and pid <> pg_backend_pid()", (f"%{marker}%",)).fetchone()[0]
            if n:
                return
            time.sleep(0.02)
    raise AssertionError(f"the query {marker} never ran")


# ---- psycopg 3

def psycopg_steps():
    conn = psycopg.connect(f"host=127.0.0.1 port={port} user=bench password=bench dbname=bench",
                           autocommit=True)

    def large():
        v = "p" * MB
        for _ in range(7):  # prepared from the sixth run on
            check("length", conn.execute("select length(%s::text)", (v,)).fetchone()[0], MB)

    def cancel():
        result = {}

        def run():
            try:
                conn.execute("select pg_sleep(30) /* psycopg_cancel */")
                result["r"] = "finished"
            except errors.QueryCanceled:
                result["r"] = "canceled"
            except Exception as e:
                result["r"] = repr(e)
        t = threading.Thread(target=run)
        t.start()
        wait_running("psycopg_cancel")
        conn.cancel()
        t.join(60)
        check("the long query", result.get("r"), "canceled")
        check("after the cancel", conn.execute("select 1").fetchone()[0], 1)

    def pipeline():
        with conn.pipeline():
            curs = [conn.cursor() for _ in range(5)]
            for i, c in enumerate(curs):
                c.execute("select %s::int * 2", (i,), prepare=(i % 2 == 0))
        check("answers", [c.fetchone()[0] for c in curs], [0, 2, 4, 6, 8])

    def set_local():
        default = conn.execute("show statement_timeout").fetchone()[0]
        with conn.transaction():
            conn.execute("set local statement_timeout = '4321ms'")
            check("inside", conn.execute("show statement_timeout").fetchone()[0], "4321ms")
        with conn.transaction():
            check("next transaction", conn.execute("show statement_timeout").fetchone()[0], default)

    def error_recovery():
        try:
            conn.execute("select 1/0")
            raise AssertionError("1/0 did not fail")
        except errors.DivisionByZero:
            pass
        check("after the error", conn.execute("select 2").fetchone()[0], 2)
        try:
            with conn.transaction():
                conn.execute("select 3")
                conn.execute("select * from no_such_table_here")
        except errors.UndefinedTable:
            pass
        check("after the failed transaction", conn.execute("select 4", prepare=True).fetchone()[0], 4)

    for name, fn in (("large parameter", large), ("cancel", cancel), ("pipeline", pipeline),
                     ("SET LOCAL", set_local), ("error and recovery", error_recovery)):
        report(f"psycopg: {name}", fn)
    conn.close()


# ---- asyncpg

async def asyncpg_steps():
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="bench", password="bench",
                                 database="bench")
    loop = asyncio.get_running_loop()

    async def large():
        v = "a" * MB
        for _ in range(3):
            check("length", await conn.fetchval("select length($1::text)", v), MB)

    async def cancel():
        task = asyncio.create_task(conn.fetchval("select pg_sleep(30) /* asyncpg_cancel */"))
        await loop.run_in_executor(None, wait_running, "asyncpg_cancel")
        task.cancel()  # asyncpg sends a CancelRequest and waits for the query to end
        try:
            await task
            raise AssertionError("the long query finished")
        except asyncio.CancelledError:
            pass
        check("after the cancel", await conn.fetchval("select 1"), 1)

    async def pipeline():
        await conn.executemany("select $1::int", [(i,) for i in range(50)])
        rows = await conn.fetch("select $1::int + g from generate_series(1, 3) g", 10)
        check("rows", [r[0] for r in rows], [11, 12, 13])

    async def set_local():
        default = await conn.fetchval("show statement_timeout")
        async with conn.transaction():
            await conn.execute("set local statement_timeout = '4321ms'")
            check("inside", await conn.fetchval("show statement_timeout"), "4321ms")
        async with conn.transaction():
            check("next transaction", await conn.fetchval("show statement_timeout"), default)

    async def error_recovery():
        try:
            await conn.fetchval("select 1/0")
            raise AssertionError("1/0 did not fail")
        except asyncpg.DivisionByZeroError:
            pass
        check("after the error", await conn.fetchval("select 2"), 2)
        try:
            async with conn.transaction():
                await conn.fetchval("select 3")
                await conn.fetchval("select * from no_such_table_here")
        except asyncpg.UndefinedTableError:
            pass
        check("after the failed transaction", await conn.fetchval("select 4"), 4)

    for name, fn in (("large parameter", large), ("cancel", cancel), ("pipeline", pipeline),
                     ("SET LOCAL", set_local), ("error and recovery", error_recovery)):
        try:
            await fn()
            print(f"ok   asyncpg: {name}", flush=True)
        except Exception as e:
            failed.append(f"asyncpg: {name}")
            print(f"FAIL asyncpg: {name}: {type(e).__name__}: {str(e)[:300]}", flush=True)
            traceback.print_exc(limit=3)
    await conn.close()


psycopg_steps()
asyncio.run(asyncpg_steps())
if failed:
    print(f"{len(failed)} step(s) failed: {', '.join(failed)}")
    sys.exit(1)
