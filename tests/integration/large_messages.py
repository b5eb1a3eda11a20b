#!/usr/bin/env python3
"""Large frontend messages through sluice, as applications send them.

    large_messages.py PORT PG_PORT [--tls] [--no-copy-tx]
    large_messages.py PORT PG_PORT --huge

psycopg 3 (over TLS with --tls): parameters of 1 MB and 32 MB in unnamed and named statements
(prepare=False, prepare=True, and the default, which prepares after five runs), a 16 MB query
text, 65,535 parameters, a pipeline of large Binds, COPY of 32 MB (with --huge instead: a 256
MB parameter, unnamed then named, and nothing else). Then, on raw protocol (plaintext), a 1 MB Bind with Describe,
Execute and Close around it pipelined in one write, and a FunctionCall with a 1 MB argument,
each answered exactly as PostgreSQL answers it straight (PG_PORT). Every step runs even if an
earlier one failed; one line per step; exit 1 if any failed.
"""
import struct
import sys
import traceback

import psycopg

from wire_client import Conn

MB = 1 << 20
args = sys.argv[1:]
port, pg_port = int(args[0]), int(args[1])
tls = "--tls" in args
huge = "--huge" in args
copy_in_tx = "--no-copy-tx" not in args

failed = []


def step(name):
    def run(fn):
        try:
            fn()
            print(f"ok   {name}", flush=True)
        except Exception as e:  # one failure must not hide the next step
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {str(e)[:300]}", flush=True)
            traceback.print_exc(limit=3)
    return run


def check(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


conninfo = (f"host=127.0.0.1 port={port} user=bench password=bench dbname=bench "
            f"sslmode={'require' if tls else 'disable'}")
conn = psycopg.connect(conninfo, autocommit=True)


if huge:
    @step("256 MB parameter, unnamed and named statement")
    def _():
        v = "h" * (256 * MB)
        for prep in (False, True):
            check(f"prepare={prep}", conn.execute("select length(%s::text)", (v,),
                                                  prepare=prep).fetchone()[0], len(v))
    conn.close()
    sys.exit(1 if failed else 0)


@step("1 MB and 32 MB parameters, unnamed and named statements")
def _():
    for n in (MB, 32 * MB):
        v = "x" * n
        for prep in (False, True):
            check(f"{n} bytes prepare={prep}",
                  conn.execute("select length(%s::text)", (v,), prepare=prep).fetchone()[0], n)


@step("1 MB parameter, psycopg's default (prepared from the sixth run)")
def _():
    v = "d" * MB
    for i in range(7):
        check(f"run {i}", conn.execute("select length(%s::text) + 0", (v,)).fetchone()[0], MB)


@step("16 MB query text, unnamed and named")
def _():
    q = "select length('" + "y" * (16 * MB) + "') + %s"
    for prep in (False, True):
        check(f"prepare={prep}", conn.execute(q, (1,), prepare=prep).fetchone()[0], 16 * MB + 1)


@step("65,535 parameters")
def _():
    q = "select cardinality(array[" + ",".join(["%s::int"] * 65535) + "])"
    params = list(range(65535))
    for prep in (False, True):
        check(f"prepare={prep}", conn.execute(q, params, prepare=prep).fetchone()[0], 65535)


@step("a pipeline of large Binds")
def _():
    with conn.pipeline():
        curs = []
        for i, prep in enumerate((True, False, True, False)):
            c = conn.cursor()
            c.execute("select length(%s::text), %s::int", ("p" * (MB + i), i), prepare=prep)
            curs.append(c)
        small = conn.cursor()
        small.execute("select 7")
    for i, c in enumerate(curs):
        check(f"pipelined {i}", c.fetchone(), (MB + i, i))
    check("after the large ones", small.fetchone()[0], 7)


@step("COPY of 32 MB")
def _():
    row = "c" * (MB - 1) + "\n"
    conn.execute("truncate large_copy")
    with conn.cursor() as cur:
        with cur.copy("copy large_copy (x) from stdin") as cp:
            for _ in range(32):
                cp.write(row)
    check("copied", conn.execute("select count(*), sum(length(x)) from large_copy").fetchone(),
          (32, 32 * (MB - 1)))
    if copy_in_tx:  # COPY inside a transaction, then a large Bind in the same one
        with conn.transaction():
            with conn.cursor() as cur:
                with cur.copy("copy large_copy (x) from stdin") as cp:
                    cp.write(row)
            check("in tx", conn.execute("select count(*) from large_copy where x = %s",
                                        (row[:-1],), prepare=True).fetchone()[0], 33)


@step("the connection is usable afterwards")
def _():
    check("select 42", conn.execute("select 42", prepare=True).fetchone()[0], 42)


conn.close()


def wire_pipeline(c):
    """A 1 MB Bind among Describe, Execute and Close, named statement and portal, one write."""
    v = "w" * MB
    c.parse("big", "select length($1::text)").describe("S", "big")
    c.bind("big", [v], portal="p1").describe("P", "p1").execute("p1").close("P", "p1")
    c.bind("big", [v + "z"]).execute().close("S", "big").sync()
    c.parse("", "select length($1::text)").bind("", [v]).execute().sync()
    return c.run()


def function_call(c, oid):
    """FunctionCall of textlen with a 1 MB text argument: the FunctionCallResponse's value."""
    arg = b"f" * MB
    body = struct.pack("!IhhhI", oid, 1, 0, 1, len(arg)) + arg + struct.pack("!h", 0)
    c._msg(b"F", body)
    c.pending_ready += 1
    c.send()
    got = []
    while c.pending_ready:
        m = c.message()
        if m is None:
            return got + ["EOF"]
        if m[0] == b"V":
            (n,) = struct.unpack("!i", m[1][:4])
            got.append("V " + m[1][4:4 + n].decode())
        elif m[0] not in (b"N", b"S"):
            got.append(Conn.show(*m))
            if m[0] == b"Z":
                c.pending_ready -= 1
    return got


if not tls:
    @step("1 MB Bind pipelined with Describe, Execute and Close, as PostgreSQL answers")
    def _():
        check("replies", wire_pipeline(Conn(port, "bench", "bench", "bench")),
              wire_pipeline(Conn(pg_port, "bench", "bench", "bench")))

    @step("FunctionCall with a 1 MB argument, as PostgreSQL answers")
    def _():
        d = Conn(pg_port, "bench", "bench", "bench")
        oid = int(d.rows("select 'textlen'::regproc::oid")[0])
        want = function_call(d, oid)
        check("direct", want, ["V " + str(MB), "Z I"])
        check("replies", function_call(Conn(port, "bench", "bench", "bench"), oid), want)

if failed:
    print(f"{len(failed)} step(s) failed: {', '.join(failed)}")
    sys.exit(1)
