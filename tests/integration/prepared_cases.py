#!/usr/bin/env python3
"""Protocol-level prepared statements through sluice in transaction mode, message by message.

    prepared_cases.py compare SLUICE_PORT PG_PORT
        Every case in CASES runs on one connection through sluice and on one straight to
        PostgreSQL; the replies must be the same, message for message.
    prepared_cases.py NAME SLUICE_PORT [PG_PORT]
        One of the cases below that need more than one connection or a pool in a given state.

Prints one line per case and exits non-zero on the first difference.
"""
import sys

from wire_client import Conn

USER = PASSWORD = DB = "bench"


def connect(port):
    return Conn(port, USER, PASSWORD, DB)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def expect(what, got, want):
    if got != want:
        fail(f"{what}: got {got}, want {want}")


# ---- cases run the same way through sluice and straight to PostgreSQL: each returns the
# list of replies it saw (each c.run() is one write and its answers).

def case_basic(c):
    r = c.parse("s1", "select $1::int + 1", [23]).sync().run()
    r += c.bind("s1", [1]).execute().sync().run()
    r += c.bind("s1", [2]).execute().sync().run()
    r += c.describe("S", "s1").sync().run()
    r += c.close("S", "s1").sync().run()
    return r


def case_pipeline(c):
    # Several statements, Syncs and an unnamed statement in one write.
    c.parse("a", "select 'a' || $1", [25]).bind("a", ["1"]).execute()
    c.parse("b", "select 'b' || $1", [25]).bind("b", ["2"]).execute().sync()
    c.parse("", "select 'unnamed'").bind("").describe("P").execute().sync()
    c.bind("a", ["3"]).execute().bind("b", ["4"]).execute().sync()
    return c.run()


def case_flush(c):
    # Answers come on Flush, without a Sync.
    r = c.parse("f", "select 42").flush().send().replies(1)
    r += c.bind("f").execute().flush().send().replies(3)
    r += c.sync().run()
    return r


def case_describe(c):
    c.parse("d", "select $1::int as x, $2::text as y", [23, 25]).describe("S", "d")
    c.bind("d", [5, "five"]).describe("P").execute().sync()
    return c.run()


def case_error_mid_pipeline(c):
    c.parse("ok1", "select 1").bind("ok1").execute()
    c.parse("div", "select 1/$1", [23]).bind("div", [0]).execute()
    c.bind("ok1").execute().sync()
    c.bind("div", [1]).execute().bind("ok1").execute().sync()
    return c.run()


def case_close(c):
    # Close answered at its place; the name can be reused for another statement.
    r = c.parse("x", "select 'first'").bind("x").execute().close("S", "x").sync().run()
    r += c.parse("x", "select 'second'").bind("x").execute().sync().run()
    r += c.close("S", "never_prepared").close("P", "").sync().run()
    return r


def case_same_text_two_names(c):
    r = c.parse("n1", "select 'shared'").parse("n2", "select 'shared'").sync().run()
    r += c.bind("n1").execute().bind("n2").execute().close("S", "n1").sync().run()
    r += c.bind("n2").execute().sync().run()
    return r


def case_deallocate_all(c):
    # The names go with the statements: the same name can be prepared again.
    r = c.parse("g1", "select 'g1'").sync().run()
    r += c.query("DEALLOCATE ALL").send().replies()
    r += c.parse("g1", "select 'again'").bind("g1").execute().sync().run()
    r += c.query("DISCARD ALL").send().replies()
    r += c.parse("g1", "select 'third'").bind("g1").execute().sync().run()
    return r


def case_transaction(c):
    r = c.parse("t1", "select $1::int * 2", [23]).sync().run()
    r += c.query("begin").send().replies()
    r += c.bind("t1", [21]).execute().sync().run()
    r += c.parse("t2", "select 'in tx'").bind("t2").execute().sync().run()
    r += c.query("commit").send().replies()
    r += c.bind("t2").execute().bind("t1", [1]).execute().sync().run()
    return r


def case_sql_prepare(c):
    # SQL-level PREPARE is session state on the server: relayed as it is, like any query.
    return c.query("prepare q1 as select 1; execute q1; deallocate q1").send().replies()


CASES = [case_basic, case_pipeline, case_flush, case_describe, case_error_mid_pipeline,
         case_close, case_same_text_two_names, case_deallocate_all, case_transaction,
         case_sql_prepare]


def compare(sluice_port, pg_port):
    for case in CASES:
        want = case(connect(pg_port))
        got = case(connect(sluice_port))
        expect(case.__name__, got, want)
        print(f"ok {case.__name__}: {len(got)} replies as PostgreSQL's", flush=True)


# ---- cases with more than one client, or a pool in a given state

def switch(sluice_port):
    """A statement prepared once is run across many transactions while a second client holds
    a server in a transaction now and then: it runs on servers it was never prepared on."""
    a, holder = connect(sluice_port), connect(sluice_port)
    expect("prepare", a.parse("pid", "select pg_backend_pid()").sync().run(), ["1", "Z I"])
    pids = set()
    for i in range(30):
        holding = i % 3 == 0
        if holding:
            expect("holder begin", holder.query("begin; select 1").send().replies(),
                   ["C BEGIN", "T", "D 1", "C SELECT 1", "Z T"])
        r = a.bind("pid").execute().sync().run()
        if len(r) != 4 or r[0] != "2" or r[2] != "C SELECT 1" or r[3] != "Z I":
            fail(f"execution {i}: {r}")
        pids.add(r[1])
        if holding:
            expect("holder commit", holder.query("commit").send().replies(), ["C COMMIT", "Z I"])
    if len(pids) < 2:
        fail(f"the statement ran on one server only ({pids}): no switch was tested")
    print(f"ok switch: 30 executions on {len(pids)} servers", flush=True)


def libpq(sluice_port):
    """libpq's own PQprepare / PQexecPrepared (through psycopg's binding of libpq), across many
    transactions, while a second client holding a server in a transaction now and then sends
    the first to a server it did not prepare on."""
    from psycopg import pq

    def conn():
        c = pq.PGconn.connect(f"host=127.0.0.1 port={sluice_port} user={USER} password={PASSWORD} "
                              f"dbname={DB}".encode())
        if c.status != pq.ConnStatus.OK:
            fail("libpq connect: " + c.error_message.decode())
        return c

    def ok(res, what):
        if res.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            fail(f"{what}: {res.error_message.decode()}")
        return res

    a, holder = conn(), conn()
    ok(a.prepare(b"add", b"select $1::int + $2::int", [23, 23]), "PQprepare")
    ok(a.prepare(b"pid", b"select pg_backend_pid()"), "PQprepare")
    pids = set()
    for i in range(40):
        holding = i % 4 == 1
        if holding:
            ok(holder.exec_(b"begin"), "holder begin")
            ok(holder.exec_(b"select 1"), "holder select")
        res = ok(a.exec_prepared(b"add", [str(i).encode(), b"1"]), f"PQexecPrepared {i}")
        if res.get_value(0, 0) != str(i + 1).encode():
            fail(f"execution {i}: {res.get_value(0, 0)}")
        pids.add(ok(a.exec_prepared(b"pid", []), "pid").get_value(0, 0))
        if holding:
            ok(holder.exec_(b"commit"), "holder commit")
    res = ok(a.describe_prepared(b"add"), "PQdescribePrepared")
    if res.nparams != 2 or res.nfields != 1:
        fail(f"PQdescribePrepared: {res.nparams} parameters, {res.nfields} fields")
    if len(pids) < 2:
        fail(f"one server only ({pids}): no switch was tested")
    print(f"ok libpq: 80 PQexecPrepared on {len(pids)} servers", flush=True)


def foreign(sluice_port):
    """A client naming one of sluice's own statement names it never prepared reaches no other
    client's statement: a Close of it closes nothing, a Bind of it ends the client (a name it
    does not have); the owner runs its statement as before."""
    owner = connect(sluice_port)
    expect("owner", owner.parse("mine", "select 'mine'").bind("mine").execute().sync().run(),
           ["1", "2", "D mine", "C SELECT 1", "Z I"])
    for n in range(1, 6):
        other = connect(sluice_port)
        expect(f"close sluice_{n}", other.close("S", f"sluice_{n}").sync().run(), ["3", "Z I"])
        r = other.bind(f"sluice_{n}").execute().sync().run()
        expect(f"other on sluice_{n}", r, ["E 08P01", "EOF"])
    expect("owner again", owner.bind("mine").execute().sync().run(),
           ["2", "D mine", "C SELECT 1", "Z I"])
    print("ok foreign: sluice's names are out of other clients' reach", flush=True)


def duplicate(sluice_port):
    """A Parse of a name the client has: as pgbouncer, the client is told and closed."""
    c = connect(sluice_port)
    expect("first", c.parse("dup", "select 1").sync().run(), ["1", "Z I"])
    r = c.parse("dup", "select 2").sync().run()
    expect("second", r, ["E 42P05", "EOF"])
    print("ok duplicate: 42P05 and closed", flush=True)


def eviction(sluice_port):
    """max_prepared_statements = 2 on a pool of 1: three statements take turns; the server
    never holds more than 2 of sluice's statements, every execution works."""
    c = connect(sluice_port)
    for n in ("e1", "e2", "e3"):
        expect("prepare " + n, c.parse(n, f"select '{n}'").sync().run(), ["1", "Z I"])
    for rnd in range(3):
        for n in ("e1", "e2", "e3", "e1"):
            expect(f"round {rnd} {n}", c.bind(n).execute().sync().run(),
                   ["2", "D " + n, "C SELECT 1", "Z I"])
            held = c.rows("select count(*) from pg_prepared_statements")
            if not held or int(held[0]) > 2:
                fail(f"the server holds {held} prepared statements, more than 2")
    print("ok eviction: 12 executions, at most 2 statements on the server", flush=True)


def replay_fails(sluice_port, pg_port):
    """The statement's table is dropped after the client prepared it; the Parse sluice sends
    before the next Bind on another server fails: the client gets that error in the Bind's
    place, then ReadyForQuery."""
    admin = connect(pg_port)
    admin.rows("drop table if exists prep_gone; create table prep_gone(x int)")
    a, holder = connect(sluice_port), connect(sluice_port)
    expect("prepare", a.parse("g", "select x from prep_gone").sync().run(), ["1", "Z I"])
    admin.rows("drop table prep_gone")
    # The holder keeps a server; a's next Bind needs a Parse on a server it was not prepared on,
    # or a re-plan where it was: both fail the same way.
    holder.query("begin; select 1").send().replies()
    r = a.bind("g").execute().sync().run()
    expect("bind after drop", r, ["E 42P01", "Z I"])
    holder.query("commit").send().replies()
    expect("next batch", a.parse("h", "select 'fine'").bind("h").execute().sync().run(),
           ["1", "2", "D fine", "C SELECT 1", "Z I"])
    print("ok replay_fails: 42P01 in the Bind's place, then ReadyForQuery", flush=True)


def unknown_names(sluice_port):
    """A Bind or Describe of a name the client does not have (never prepared, closed, dropped
    by DEALLOCATE ALL or DISCARD ALL): as pgbouncer, the client is told and closed, not
    answered 26000 as PostgreSQL would (its pipeline would have to be skipped to the Sync)."""
    closed = ["E 08P01", "EOF"]
    c = connect(sluice_port)
    expect("never prepared", c.bind("nosuch").execute().sync().run(), closed)
    c = connect(sluice_port)
    expect("describe", c.describe("S", "doesnotexist").sync().run(), closed)
    c = connect(sluice_port)
    r = c.parse("s1", "select 1").sync().run() + c.close("S", "s1").sync().run()
    expect("closed", r + c.bind("s1").execute().sync().run(), ["1", "Z I", "3", "Z I"] + closed)
    for drop in ("DEALLOCATE ALL", "DISCARD ALL"):
        c = connect(sluice_port)
        c.parse("g1", "select 1").sync().run()
        c.query(drop).send().replies()
        expect(drop, c.bind("g1").execute().sync().run(), closed)
    print("ok unknown_names: the client is closed, as pgbouncer does", flush=True)


def failed_names(sluice_port):
    """A Parse the server refused or skipped (after an error, before the Sync): the client's
    name stays, as pgbouncer keeps it: a Bind prepares it again (psycopg's pipelines count on
    it), and fails again if the statement does; a new Parse of the name replaces it, as
    PostgreSQL (which never created it) allows."""
    c = connect(sluice_port)
    expect("refused", c.parse("bad", "selec 1").bind("bad").execute().sync().run(), ["E 42601", "Z I"])
    expect("refused again", c.bind("bad").execute().sync().run(), ["E 42601", "Z I"])
    expect("parsed anew", c.parse("bad", "select 'now good'").bind("bad").execute().sync().run(),
           ["1", "2", "D now good", "C SELECT 1", "Z I"])
    # The error reaches sluice before the client's Sync (psycopg's pipeline with a late sync):
    # what the client sends after it, up to the Sync, is skipped by the server.
    c = connect(sluice_port)
    r = c.parse("e1", "select aaaa").bind("e1").execute().flush().send().replies(1)
    r += c.parse("e2", "select 123").bind("e2").execute().sync().run()
    expect("error before sync", r, ["E 42703", "Z I"])
    expect("next batch", c.parse("e3", "select 1").bind("e3").execute().sync().run(),
           ["1", "2", "D 1", "C SELECT 1", "Z I"])
    expect("skipped, prepared by the Bind", c.bind("e2").execute().sync().run(),
           ["2", "D 123", "C SELECT 1", "Z I"])
    # An error before a Parse in the same batch: the skipped Parse is prepared by the Bind.
    c = connect(sluice_port)
    expect("skipped after 1/0", c.parse("", "select 1/0").bind("").execute()
           .parse("later", "select 'later'").sync().run(), ["1", "E 22012", "Z I"])
    expect("later", c.bind("later").execute().sync().run(),
           ["2", "D later", "C SELECT 1", "Z I"])
    print("ok failed_names: kept for the Bind, replaced by a new Parse", flush=True)


def untracked(sluice_port):
    """max_prepared_statements set to 0 at run time (SET on the console): from the client's
    next transaction its names go to the server as they are, and the server does not know
    them (as pgbouncer); set back, the statements the client had are renamed again."""
    c = connect(sluice_port)
    console = Conn(sluice_port, USER, PASSWORD, "pgbouncer")
    expect("prepare", c.parse("u1", "select 'u'").sync().run(), ["1", "Z I"])
    console.query("set max_prepared_statements = 0").send().replies()
    expect("untracked bind", c.bind("u1").execute().sync().run(), ["E 26000", "Z I"])
    console.query("set max_prepared_statements = 100").send().replies()
    expect("tracked again", c.bind("u1").execute().sync().run(),
           ["2", "D u", "C SELECT 1", "Z I"])
    print("ok untracked: names pass through while max_prepared_statements = 0", flush=True)


def vanish(sluice_port):
    """A client that leaves mid-pipeline: its server is not reused with the pipeline half
    done. The next client on the pool (of one) runs a fresh pipeline cleanly."""
    c = connect(sluice_port)
    c.parse("v", "select pg_sleep(0.2)").bind("v").execute().flush().send()
    expect("before leaving", c.replies(2), ["1", "2"])  # linked, the Execute under way
    c.drop()
    d = connect(sluice_port)
    expect("after vanish", d.parse("v", "select 'clean'").bind("v").execute().sync().run(),
           ["1", "2", "D clean", "C SELECT 1", "Z I"])
    print("ok vanish: the next client is served cleanly", flush=True)


def known(sluice_port):
    """A Parse + Sync of a statement a server accepted lately is answered while every server
    is busy: no server is needed until the Bind."""
    first, holder, late = connect(sluice_port), connect(sluice_port), connect(sluice_port)
    expect("first", first.parse("k", "select 'known'").sync().run(), ["1", "Z I"])
    holder.query("begin; select 1").send().replies()  # the pool's only server
    expect("late parse", late.parse("k", "select 'known'").sync().run(), ["1", "Z I"])
    late.bind("k").execute().sync().send()
    holder.query("commit").send().replies()
    expect("late bind", late.replies(), ["2", "D known", "C SELECT 1", "Z I"])
    print("ok known: answered without a server, run once one was free", flush=True)


def handoff(sluice_port):
    """Two clients on different shards take turns on one server: the statement cache moves
    with the server between shards, so it is parsed on the server once."""
    a, b = connect(sluice_port), connect(sluice_port)
    for i in range(6):
        for who, c in (("a", a), ("b", b)):
            if i == 0:
                expect(who + " prepare", c.parse("h" + who, "select 'handed'").sync().run(),
                       ["1", "Z I"])
            expect(f"{who} run {i}", c.bind("h" + who).execute().sync().run(),
                   ["2", "D handed", "C SELECT 1", "Z I"])
    print("ok handoff: 12 executions", flush=True)


if __name__ == "__main__":
    name, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    if name == "compare":
        compare(*ports)
    else:
        globals()[name](*ports)
