#!/usr/bin/env python3
"""Helpers for bench/run: free ports, pgbench result parsing, the idle-client
load generator (raw PostgreSQL protocol + SCRAM-SHA-256) and the report
(results.json, results.md, gnuplot chart).

Only the standard library is used.  Every sub-command is called by bench/run;
see bench/README.md for the meaning of the numbers.
"""
import argparse
import asyncio
import base64
import glob
import hashlib
import hmac
import json
import math
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time

# --------------------------------------------------------------------------
# small utilities


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu_ticks(pid):
    """utime+stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime is field 14, stime field 15
    return int(rest[11]) + int(rest[12])


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def sys_busy_ticks():
    with open("/proc/stat") as f:
        parts = f.readline().split()
    v = [int(x) for x in parts[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]
    # guest time is already included in user/nice
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = math.floor(k)
    hi = math.ceil(k)
    if lo == hi:
        return float(sorted_vals[int(k)])
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


# --------------------------------------------------------------------------
# pgbench output parsing

RE_TPS = re.compile(r"^tps = ([0-9.]+) \((.*)\)", re.M)
RE_TX = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
RE_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
RE_LAT = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
RE_CONN = re.compile(r"^(?:initial connection time|average connection time) = ([0-9.]+) ms", re.M)


def parse_pgbench(out_text, log_files):
    r = {}
    m = RE_TPS.search(out_text)
    r["tps"] = float(m.group(1)) if m else None
    m = RE_TX.search(out_text)
    r["transactions"] = int(m.group(1)) if m else None
    m = RE_FAILED.search(out_text)
    r["failed"] = int(m.group(1)) if m else (0 if r["transactions"] is not None else None)
    m = RE_LAT.search(out_text)
    r["lat_avg_ms"] = float(m.group(1)) if m else None
    m = RE_CONN.search(out_text)
    r["conn_time_ms"] = float(m.group(1)) if m else None
    lats = []
    log_failed = 0
    for fn in log_files:
        with open(fn) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                t = parts[2]
                if t.isdigit():
                    lats.append(int(t))
                else:  # "failed", "serialization", "deadlock", "skipped"
                    log_failed += 1
    lats.sort()
    r["samples"] = len(lats)
    r["lat_p50_ms"] = round(percentile(lats, 50) / 1000.0, 4) if lats else None
    r["lat_p99_ms"] = round(percentile(lats, 99) / 1000.0, 4) if lats else None
    if r["lat_avg_ms"] is None and lats:
        r["lat_avg_ms"] = round(sum(lats) / len(lats) / 1000.0, 4)
    r["log_failed"] = log_failed
    return r


def last_lines(text, n=6):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return "\n".join(lines[-n:])


def error_summary(text):
    """The distinct pgbench error lines (first few, with counts), else the tail."""
    errs = {}
    for line in text.splitlines():
        l = line.strip()
        if not l or not re.search(r"error|abort|fatal|could not|timeout|closed", l, re.I):
            continue
        key = re.sub(r"client \d+", "client N", l)
        errs[key] = errs.get(key, 0) + 1
    if not errs:
        return last_lines(text, 4)
    parts = [(f"{n}x " if n > 1 else "") + k for k, n in list(errs.items())[:4]]
    if len(errs) > 4:
        parts.append(f"... ({len(errs) - 4} more distinct messages)")
    return "\n".join(parts)


def cmd_parse(a):
    with open(a.out, errors="replace") as f:
        out_text = f.read()
    logs = sorted(glob.glob(os.path.join(a.logdir, "*"))) if a.logdir else []
    r = parse_pgbench(out_text, logs)
    clk = os.sysconf("SC_CLK_TCK")
    rec = {
        "type": "run", "scenario": a.scenario, "target": a.target, "rep": a.rep,
        "rc": a.rc, "wall_s": round(a.t1 - a.t0, 3) if a.t0 and a.t1 else None,
        "duration_s": a.duration, "note": a.note,
    }
    rec.update(r)
    if a.cpu_ticks is not None and a.cpu_ticks >= 0:
        rec["pooler_cpu_s"] = a.cpu_ticks / clk
    else:
        rec["pooler_cpu_s"] = None
    rec["sys_cpu_s"] = a.sys_ticks / clk if a.sys_ticks is not None else None
    rec["peak_rss_kb"] = a.hwm
    tx = r["transactions"]
    rec["cpu_s_per_1k_tx"] = (round(rec["pooler_cpu_s"] / tx * 1000.0, 5)
                              if rec["pooler_cpu_s"] is not None and tx else None)
    rec["total_cpu_s_per_1k_tx"] = (round(rec["sys_cpu_s"] / tx * 1000.0, 5)
                                    if rec["sys_cpu_s"] is not None and tx else None)
    err = None
    if a.error:
        err = a.error
    elif a.rc != 0:
        err = f"pgbench exited with status {a.rc}"
        if a.rc == 124:
            err = "pgbench timed out (killed)"
        tail = error_summary(out_text)
        if tail:
            err += ": " + tail
    elif r["transactions"] == 0:
        err = ("0 transactions completed (pgbench's -T includes the initial connection time"
               + (f", which was {r['conn_time_ms']:.0f} ms" if r["conn_time_ms"] else "") + ")")
    elif r["tps"] is None:
        err = "no tps line in pgbench output: " + error_summary(out_text)
    rec["error"] = err
    if err:
        rec["ok"] = False
    else:
        rec["ok"] = True
    with open(a.append, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if rec["ok"]:
        p99 = rec["lat_p99_ms"]
        cpu = rec["cpu_s_per_1k_tx"]
        msg = f"tps={rec['tps']:.0f}"
        if p99 is not None:
            msg += f" p50={rec['lat_p50_ms']:.3f}ms p99={p99:.3f}ms"
        if rec["failed"]:
            msg += f" failed={rec['failed']}"
        if cpu is not None:
            msg += f" cpu/1k={cpu:.4f}s"
        if rec["peak_rss_kb"]:
            msg += f" rss={rec['peak_rss_kb']}kB"
        print(msg)
    else:
        print("FAILED: " + err.replace("\n", " | ")[:300])


# --------------------------------------------------------------------------
# idle clients: raw protocol + SCRAM-SHA-256
#
# One asyncio Protocol per connection (a small state machine, no stream
# objects): the Python side is what limits the login rate, so keep it lean.

_keys_cache = {}


def _scram_keys(password, salt, iters):
    """(ClientKey, StoredKey, ServerKey); the same for every connection."""
    k = (salt, iters)
    if k not in _keys_cache:
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
        ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        sk = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        _keys_cache[k] = (ck, hashlib.sha256(ck).digest(), sk)
    return _keys_cache[k]


def _msg(tag, payload):
    return tag + struct.pack("!I", len(payload) + 4) + payload


def _err_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode(errors="replace")
    return fields


def _err_text(body):
    fields = _err_fields(body)
    return f"{fields.get(b'S', 'ERROR')}: {fields.get(b'M', '?')}"


class PgLogin(asyncio.Protocol):
    """Logs in (trust / cleartext / md5 / SCRAM-SHA-256), then stays idle.

    self.ready resolves at the first ReadyForQuery (or fails); afterwards
    self.query() runs one simple query, and self.lost tells whether the
    server side hung up; a query that failed leaves the ErrorResponse's
    SQLSTATE and message in self.last_error.
    """

    def __init__(self, loop, user, password, database):
        self.loop = loop
        self.user = user
        self.password = password
        self.database = database
        self.ready = loop.create_future()
        self.qfut = None
        self.buf = bytearray()
        self.transport = None
        self.lost = False
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"
        self.server_sig = None
        self.last_error = None

    def connection_made(self, transport):
        self.transport = transport
        params = (b"user\0" + self.user.encode() + b"\0database\0" + self.database.encode()
                  + b"\0application_name\0idle-bench\0\0")
        payload = struct.pack("!I", 196608) + params
        transport.write(struct.pack("!I", len(payload) + 4) + payload)

    def connection_lost(self, exc):
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection closed during login ({exc})"))
        if self.qfut is not None and not self.qfut.done():
            self.qfut.set_result(False)

    def _fail(self, text):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(text))
        self.transport.close()

    def data_received(self, data):
        buf = self.buf
        buf += data
        while len(buf) >= 5:
            (ln,) = struct.unpack_from("!I", buf, 1)
            if len(buf) < ln + 1:
                return
            tag = bytes(buf[:1])
            body = bytes(buf[5:ln + 1])
            del buf[:ln + 1]
            try:
                self._handle(tag, body)
            except Exception as e:  # noqa: BLE001
                self._fail(f"{type(e).__name__}: {e}")
                return

    def _handle(self, tag, body):
        if tag == b"R":
            (code,) = struct.unpack_from("!I", body)
            w = self.transport.write
            if code == 0:
                return
            if code == 3:
                w(_msg(b"p", self.password.encode() + b"\0"))
            elif code == 5:
                inner = hashlib.md5((self.password + self.user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                w(_msg(b"p", b"md5" + outer.encode() + b"\0"))
            elif code == 10:
                if b"SCRAM-SHA-256" not in body[4:].split(b"\0"):
                    raise RuntimeError(f"server offers no SCRAM-SHA-256: {body[4:]!r}")
                data = ("n,," + self.first_bare).encode()
                w(_msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(data)) + data))
            elif code == 11:
                server_first = body[4:].decode()
                attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
                if not attrs["r"].startswith(self.nonce):
                    raise RuntimeError("bad server nonce")
                ck, stored, sk = _scram_keys(self.password, base64.b64decode(attrs["s"]),
                                             int(attrs["i"]))
                final_wo_proof = f"c=biws,r={attrs['r']}"
                auth_message = f"{self.first_bare},{server_first},{final_wo_proof}".encode()
                sig = hmac.new(stored, auth_message, hashlib.sha256).digest()
                proof = (int.from_bytes(ck, "big") ^ int.from_bytes(sig, "big")).to_bytes(32, "big")
                self.server_sig = hmac.new(sk, auth_message, hashlib.sha256).digest()
                w(_msg(b"p", f"{final_wo_proof},p={base64.b64encode(proof).decode()}".encode()))
            elif code == 12:
                final = body[4:].decode()
                if final.startswith("v=") and base64.b64decode(final[2:]) != self.server_sig:
                    raise RuntimeError("server signature mismatch")
            else:
                raise RuntimeError(f"unsupported authentication request {code}")
        elif tag == b"E":
            if not self.ready.done():
                self._fail(_err_text(body))
            else:  # the query's outcome is known at its ReadyForQuery
                f = _err_fields(body)
                self.last_error = (f.get(b"C", "?"), f.get(b"M", "?"))
        elif tag == b"Z":
            if not self.ready.done():
                self.ready.set_result(True)
            elif self.qfut is not None and not self.qfut.done():
                self.qfut.set_result(self.last_error is None)
        # S, K, N, T, D, C: nothing to do

    def query(self, sql):
        self.last_error = None
        self.qfut = self.loop.create_future()
        self.transport.write(_msg(b"Q", sql.encode() + b"\0"))
        return self.qfut


async def idle_main(a):
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(a.concurrency)
    conns = []
    errors = {}

    async def one():
        async with sem:
            try:
                _, proto = await loop.create_connection(
                    lambda: PgLogin(loop, a.user, a.password, a.database), a.host, a.port)
                await proto.ready
                conns.append(proto)
            except Exception as e:  # noqa: BLE001
                k = f"{type(e).__name__}: {e}"[:200]
                errors[k] = errors.get(k, 0) + 1

    pid = a.pid
    rss_before = proc_status_kb(pid, "VmRSS") if pid else None
    cpu_before = proc_cpu_ticks(pid) if pid else None
    t0 = time.monotonic()
    c0 = time.process_time()
    tasks = [asyncio.ensure_future(one()) for _ in range(a.n)]
    done, pending = await asyncio.wait(tasks, timeout=a.timeout)
    for t in pending:
        t.cancel()
    if pending:
        errors[f"login not finished within {a.timeout:.0f} s"] = len(pending)
    connect_s = time.monotonic() - t0
    client_cpu = time.process_time() - c0
    await asyncio.sleep(a.settle)
    closed_early = sum(1 for c in conns if c.lost)
    rss_after = proc_status_kb(pid, "VmRSS") if pid else None
    hwm = proc_status_kb(pid, "VmHWM") if pid else None
    cpu_after = proc_cpu_ticks(pid) if pid else None
    alive = len(conns) - closed_early
    # the idle connections must still be usable: run a query on a few of them
    usable = 0
    for c in conns[:: max(1, len(conns) // 5)][:5]:
        if c.lost:
            continue
        try:
            if await asyncio.wait_for(c.query("SELECT 1"), 10):
                usable += 1
        except Exception:  # noqa: BLE001
            pass
    for c in conns:
        try:
            c.transport.write(_msg(b"X", b""))
            c.transport.close()
        except Exception:  # noqa: BLE001
            pass
    await asyncio.sleep(0.2)
    clk = os.sysconf("SC_CLK_TCK")
    return {
        "requested": a.n, "connected": len(conns), "alive_after_settle": alive,
        "query_ok_sample": usable,
        "connect_time_s": round(connect_s, 3),
        "client_cpu_s": round(client_cpu, 3),
        "rss_before_kb": rss_before, "rss_after_kb": rss_after,
        "peak_rss_kb": hwm,
        "cpu_s_connect": (cpu_after - cpu_before) / clk if pid else None,
        "errors": errors,
    }


def cmd_idle(a):
    baseline = a.baseline_rss
    try:
        res = asyncio.run(idle_main(a))
        err = None
        if res["connected"] < a.n:
            top = sorted(res["errors"].items(), key=lambda kv: -kv[1])[:3]
            err = (f"only {res['connected']}/{a.n} connected; "
                   + "; ".join(f"{n}x {k}" for k, n in top))
        elif res["alive_after_settle"] < a.n:
            err = f"{a.n - res['alive_after_settle']} connections closed by the pooler while idle"
        elif res["query_ok_sample"] == 0:
            err = "SELECT 1 failed on every sampled idle connection"
    except Exception as e:  # noqa: BLE001
        res = {}
        err = f"{type(e).__name__}: {e}"
    rec = {"type": "idle", "scenario": a.scenario, "target": a.target, "rep": a.rep}
    rec.update(res)
    if baseline is None:
        baseline = res.get("rss_before_kb")
    if res.get("rss_after_kb") is not None and baseline is not None:
        rec["rss_baseline_kb"] = baseline
        rec["rss_delta_kb"] = res["rss_after_kb"] - baseline
    else:
        rec["rss_delta_kb"] = None
    rec["error"] = err
    rec["ok"] = err is None
    with open(a.append, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if rec["ok"]:
        print(f"connected {res['connected']} in {res['connect_time_s']:.2f}s, "
              f"RSS +{rec['rss_delta_kb']} kB ({res['rss_after_kb']} kB total), "
              f"pooler cpu {res['cpu_s_connect']:.2f}s (client cpu {res['client_cpu_s']:.2f}s)")
    else:
        print("FAILED: " + err[:300])


# --------------------------------------------------------------------------
# failover: writers through each pooler while bench/run fails the primary over
#
# `failover-writers` keeps N client connections per target open and inserts
# one row per writer every --interval seconds (autocommit), until --stop
# exists; every outcome is kept: ok (the commit was acknowledged), error
# (SQLSTATE) or lost (the pooler closed the client connection).  A writer whose
# connection was closed logs in again.  `failover-report` matches the outcomes
# with the events bench/run recorded (when each one started, when the new
# primary accepted writes) and with the rows on the final primary.


async def _writer(loop, a, target, port, w, out, stop):
    proto = None
    s = 0
    interval = a.interval
    while not os.path.exists(stop):
        tick = time.monotonic()
        if proto is None or proto.lost:
            try:
                _, proto = await asyncio.wait_for(loop.create_connection(
                    lambda: PgLogin(loop, a.user, a.password, a.database), a.host, port), 10)
                await asyncio.wait_for(proto.ready, 30)
            except Exception as e:  # noqa: BLE001
                out.append((time.time(), target, w, 0, "connect_failed", f"{type(e).__name__}: {e}"[:120]))
                if proto is not None and proto.transport is not None:
                    proto.transport.close()
                proto = None
                await asyncio.sleep(interval)
                continue
        s += 1
        ok = await proto.query(f"INSERT INTO fo VALUES ('{target}', {w}, {s})")
        now = time.time()
        if ok:
            out.append((now, target, w, s, "ok", None))
        elif proto.lost:
            code = proto.last_error[0] if proto.last_error else None
            out.append((now, target, w, s, "lost", code))
        else:
            out.append((now, target, w, s, "error", proto.last_error[0]))
        left = interval - (time.monotonic() - tick)
        if left > 0:
            await asyncio.sleep(left)
    if proto is not None and not proto.lost:
        proto.transport.write(_msg(b"X", b""))
        proto.transport.close()


async def failover_writers_main(a):
    loop = asyncio.get_running_loop()
    out = []
    tasks = []
    for spec in a.target:
        name, port = spec.split(":")
        for w in range(1, a.writers + 1):
            tasks.append(asyncio.ensure_future(_writer(loop, a, name, int(port), w, out, a.stop)))

    async def ready():  # every writer has had a commit acknowledged
        while True:
            have = {(t, w) for (_, t, w, _, what, _) in out if what == "ok"}
            if len(have) == len(tasks):
                with open(a.ready, "w") as f:
                    f.write("ready\n")
                return
            await asyncio.sleep(0.05)
    asyncio.ensure_future(ready())
    # a writer stuck in a query the pooler never answers is left behind at --stop
    while not os.path.exists(a.stop):
        await asyncio.sleep(0.05)
    await asyncio.wait(tasks, timeout=5)
    with open(a.log, "w") as f:
        for rec in out:
            f.write(json.dumps(rec) + "\n")


def cmd_failover_writers(a):
    asyncio.run(failover_writers_main(a))


def cmd_failover_report(a):
    with open(a.events) as f:
        events = [json.loads(line) for line in f if line.strip()]
    outcomes = []
    with open(a.log) as f:
        for line in f:
            if line.strip():
                outcomes.append(json.loads(line))
    final = set()
    with open(a.final) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                final.add((parts[0], int(parts[1]), int(parts[2])))
    end = a.end
    for target in a.targets.split(","):
        mine = sorted((o for o in outcomes if o[1] == target), key=lambda o: o[0])
        rec = {"type": "failover", "scenario": a.scenario, "target": target, "rep": 1,
               "writers": a.writers, "interval_ms": round(a.interval * 1000), "events": []}
        for i, ev in enumerate(events):
            t_start, t_open = ev["started"], ev.get("writable")
            t_end = events[i + 1]["started"] if i + 1 < len(events) else end
            win = [o for o in mine if t_start <= o[0] < t_end]
            first_ok = next((o[0] for o in win if o[4] == "ok"
                             and (t_open is None or o[0] >= t_open)), None)
            failed = [o for o in win if o[4] in ("error", "lost")]
            e = {"event": ev["name"], "what": ev["what"],
                 "window_s": round(t_end - t_start, 3),
                 "writable_after_s": None if t_open is None else round(t_open - t_start, 3),
                 "resumed_ms": (None if first_ok is None or t_open is None
                                else round((first_ok - t_open) * 1000)),
                 "failed": len(failed),
                 "failed_after_resuming": (len([o for o in failed if o[0] > first_ok])
                                           if first_ok is not None else None),
                 "readonly_errors": len([o for o in win if o[4] == "error" and o[5] == "25006"]),
                 "connections_dropped": len([o for o in win if o[4] == "lost"]),
                 "connect_failures": len([o for o in win if o[4] == "connect_failed"]),
                 "writes_ok_after_open": len([o for o in win if o[4] == "ok"
                                              and (t_open is None or o[0] >= t_open)]),
                 "errors": {}}
            for o in failed:
                k = o[5] or "connection closed"
                e["errors"][k] = e["errors"].get(k, 0) + 1
            rec["events"].append(e)
        acked = [(o[1], o[2], o[3]) for o in mine if o[4] == "ok"]
        rec["acked_commits"] = len(acked)
        rec["lost_commits"] = len([k for k in acked if k not in final])
        rec["ok"] = bool(acked)
        rec["error"] = None if acked else "no write was acknowledged"
        with open(a.append, "a") as f:
            f.write(json.dumps(rec) + "\n")
        parts = []
        for e in rec["events"]:
            r = "not within the window" if e["resumed_ms"] is None else f"{e['resumed_ms']} ms"
            parts.append(f"{e['event']}: resumed {r}, {e['failed']} failed "
                         f"({e['readonly_errors']} read-only), {e['connections_dropped']} dropped")
        print(f"  {target}: " + "; ".join(parts)
              + f"; lost {rec['lost_commits']} of {rec['acked_commits']} acknowledged commits")


def aggregate_failover(runs):
    ok = [r for r in runs if r["ok"]]
    errors = run_errors(runs)
    if not ok:
        return None, errors
    r = ok[0]
    agg = {k: r.get(k) for k in ("writers", "interval_ms", "events", "acked_commits", "lost_commits")}
    agg.update({"tps_median": None, "cpu_s_per_1k_tx": None, "failed": sum(e["failed"] for e in r["events"]),
                "reps": len(ok), "reps_failed": len(runs) - len(ok)})
    return agg, errors


# --------------------------------------------------------------------------
# report


def _med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def _r(v, nd=3):
    return None if v is None else round(v, nd)


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def run_errors(runs):
    """'rep 1, 2: msg' for the failed runs, identical messages merged."""
    by_msg = {}
    for r in runs:
        if not r["ok"]:
            by_msg.setdefault(r.get("error") or "failed", []).append(str(r["rep"]))
    return [f"rep {', '.join(reps)}: {msg}" for msg, reps in by_msg.items()]


def aggregate_notify(runs):
    good = [r for r in runs if r.get("ok")]
    errs = [r.get("error", "failed") for r in runs if not r.get("ok")]
    if not good:
        return None, errs
    return {"listeners": good[0]["listeners"], "notifications": good[0]["notifications"],
            "p50_ms": _med([r["p50_ms"] for r in good]), "p99_ms": _med([r["p99_ms"] for r in good]),
            "max_ms": max(r["max_ms"] for r in good),
            "delivered": sum(r["delivered"] for r in good),
            "expected": sum(r["expected"] for r in good), "reps": len(good)}, errs


def aggregate_runs(runs):
    ok = [r for r in runs if r["ok"]]
    errors = run_errors(runs)
    if not ok:
        return None, errors
    tps = [r["tps"] for r in ok]
    agg = {
        "tps_median": _r(_med(tps), 1),
        "tps_min": _r(min(tps), 1),
        "tps_max": _r(max(tps), 1),
        "lat_avg_ms": _r(_med([r["lat_avg_ms"] for r in ok]), 4),
        "lat_p50_ms": _r(_med([r["lat_p50_ms"] for r in ok]), 4),
        "lat_p99_ms": _r(_med([r["lat_p99_ms"] for r in ok]), 4),
        "cpu_s_per_1k_tx": _r(_med([r["cpu_s_per_1k_tx"] for r in ok]), 5),
        "total_cpu_s_per_1k_tx": _r(_med([r["total_cpu_s_per_1k_tx"] for r in ok]), 5),
        "peak_rss_kb": max([r["peak_rss_kb"] for r in ok if r["peak_rss_kb"]], default=None),
        "conn_time_ms": _r(_med([r["conn_time_ms"] for r in ok]), 3),
        "failed": sum((r["failed"] or 0) for r in ok),
        "reps": len(ok),
        "reps_failed": len(runs) - len(ok),
        "runs": [{k: r.get(k) for k in ("rep", "tps", "transactions", "lat_avg_ms", "lat_p50_ms",
                                          "lat_p99_ms", "failed", "pooler_cpu_s", "sys_cpu_s",
                                          "cpu_s_per_1k_tx", "peak_rss_kb", "conn_time_ms",
                                          "duration_s", "wall_s", "note")}
                 for r in ok],
    }
    # runs whose -T was extended for the connection time, or rerun after 0 tx
    notes = [f"rep {r['rep']}: {r['note']}" for r in runs
             if r.get("note") and "rerun" in r["note"]]
    if any(r.get("note") for r in ok):
        notes.append("-T per rep, including the time to connect the clients: "
                     + ", ".join(f"{r.get('duration_s')}" for r in ok) + " s")
    if notes:
        agg["run_notes"] = notes
    if errors:
        agg["errors"] = errors
    return agg, errors


def aggregate_idle(runs):
    ok = [r for r in runs if r["ok"]]
    errors = run_errors(runs)
    if not ok:
        return None, errors
    ct = [r["connect_time_s"] for r in ok]
    deltas = [r["rss_delta_kb"] for r in ok if r["rss_delta_kb"] is not None]
    n = ok[0]["requested"]
    d = _med(deltas)
    agg = {
        "tps_median": None, "tps_min": None, "tps_max": None,
        "lat_p50_ms": None, "lat_p99_ms": None, "cpu_s_per_1k_tx": None,
        "clients": n,
        "connect_time_s_median": _r(_med(ct), 3),
        "connect_time_s_min": _r(min(ct), 3),
        "connect_time_s_max": _r(max(ct), 3),
        "rss_baseline_kb": ok[0].get("rss_baseline_kb"),
        "rss_delta_kb_median": _r(d, 1),
        "rss_delta_kb_min": min(deltas) if deltas else None,
        "rss_delta_kb_max": max(deltas) if deltas else None,
        "rss_per_client_bytes": _r(d * 1024.0 / n, 0) if d is not None else None,
        "rss_with_clients_kb": _r(_med([r["rss_after_kb"] for r in ok]), 0),
        "cpu_s_connect_median": _r(_med([r["cpu_s_connect"] for r in ok]), 3),
        "client_cpu_s_median": _r(_med([r.get("client_cpu_s") for r in ok]), 3),
        "peak_rss_kb": max([r["peak_rss_kb"] for r in ok if r.get("peak_rss_kb")], default=None),
        "failed": 0,
        "reps": len(ok),
        "reps_failed": len(runs) - len(ok),
        "runs": [{k: r.get(k) for k in ("rep", "connected", "connect_time_s", "client_cpu_s", "rss_before_kb",
                                          "rss_after_kb", "rss_delta_kb", "cpu_s_connect")}
                 for r in ok],
    }
    if errors:
        agg["errors"] = errors
    return agg, errors


def sanitize(obj, repl):
    if isinstance(obj, str):
        for old, new in repl:
            if old:
                obj = obj.replace(old, new)
        return obj
    if isinstance(obj, list):
        return [sanitize(x, repl) for x in obj]
    if isinstance(obj, dict):
        return {k: sanitize(v, repl) for k, v in obj.items()}
    return obj


def fmt(v, nd=None, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        if nd is None:
            nd = 0 if abs(v) >= 100 else (2 if abs(v) >= 1 else 4)
        return f"{v:,.{nd}f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return str(v) + unit


def cmd_report(a):
    recs = []
    with open(a.raw) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    with open(a.meta) as f:
        meta = json.load(f)
    scen_defs = [r for r in recs if r["type"] == "scenario"]
    target_errors = {}
    for r in recs:
        if r["type"] == "target_error":
            target_errors.setdefault(r["target"], []).append(r["error"])
    scenarios = []
    sluice_any = False
    for sd in scen_defs:
        name = sd["name"]
        entry = {"name": name, "description": sd["description"],
                 "pgbench": sd.get("pgbench"), "duration_s": sd.get("duration"),
                 "reps_planned": sd.get("reps"), "kind": sd.get("kind", "pgbench"),
                 "targets": sd["targets"], "notes": {}}
        for t in sd["all_targets"]:
            entry[t] = None
        for r in recs:
            if r["type"] == "na" and r["scenario"] == name:
                entry[r["target"]] = None
                entry["notes"][r["target"]] = r["note"]
        for t in sd["targets"]:
            runs = [r for r in recs if r["type"] in ("run", "idle", "failover", "notify")
                    and r["scenario"] == name and r["target"] == t]
            if sd.get("kind") == "idle":
                agg, errs = aggregate_idle(runs)
            elif sd.get("kind") == "failover":
                agg, errs = aggregate_failover(runs)
            elif sd.get("kind") == "notify":
                agg, errs = aggregate_notify(runs)
            else:
                agg, errs = aggregate_runs(runs)
            entry[t] = agg
            if agg is None:
                msg = "; ".join(errs) if errs else "no run"
                if t in target_errors and not runs:
                    msg = "target did not start: " + target_errors[t][0]
                entry["notes"][t] = "no result: " + msg
            elif errs:
                nfail = len([r for r in runs if not r["ok"]])
                entry["notes"][t] = f"{nfail} of {len(runs)} reps failed: " + "; ".join(errs)
            if agg is not None and agg.get("run_notes"):
                prev = entry["notes"].get(t)
                entry["notes"][t] = ((prev + "; ") if prev else "") + "; ".join(agg["run_notes"])
            if t.startswith("sluice") and agg is not None:
                sluice_any = True
        # ratios
        s, p, d = entry.get("sluice"), entry.get("pgbouncer"), entry.get("direct")
        ratios = {}
        if sd.get("kind") == "idle":
            ratios["rss_delta_sluice_vs_pgbouncer"] = _ratio(
                s and s["rss_delta_kb_median"], p and p["rss_delta_kb_median"])
            ratios["connect_time_sluice_vs_pgbouncer"] = _ratio(
                s and s["connect_time_s_median"], p and p["connect_time_s_median"])
        elif sd.get("kind") == "failover":
            pass  # a write that never resumed has no ratio; the table says it
        elif sd.get("kind") == "notify":
            g = lambda x, k: x[k] if x else None  # noqa: E731
            ratios["p50_added_ms_sluice_vs_direct"] = (
                _r(g(s, "p50_ms") - g(d, "p50_ms"), 3) if g(s, "p50_ms") is not None
                and g(d, "p50_ms") is not None else None)
            ratios["p99_sluice_vs_direct"] = _ratio(g(s, "p99_ms"), g(d, "p99_ms"))
        else:
            g = lambda x, k: x[k] if x else None  # noqa: E731
            ratios["tps_sluice_vs_pgbouncer"] = _ratio(g(s, "tps_median"), g(p, "tps_median"))
            ratios["tps_sluice_vs_direct"] = _ratio(g(s, "tps_median"), g(d, "tps_median"))
            ratios["cpu_sluice_vs_pgbouncer"] = _ratio(g(s, "cpu_s_per_1k_tx"), g(p, "cpu_s_per_1k_tx"))
            # the direct target has no pooler process: compare whole-machine CPU per 1k tx
            ratios["cpu_sluice_vs_direct"] = None
            ratios["total_cpu_sluice_vs_direct"] = _ratio(g(s, "total_cpu_s_per_1k_tx"),
                                                          g(d, "total_cpu_s_per_1k_tx"))
            ratios["total_cpu_sluice_vs_pgbouncer"] = _ratio(g(s, "total_cpu_s_per_1k_tx"),
                                                             g(p, "total_cpu_s_per_1k_tx"))
            if sd.get("kind") == "latency" and d and d.get("lat_p50_ms") is not None:
                for t in ("pgbouncer", "sluice"):
                    x = entry.get(t)
                    if x and x.get("lat_p50_ms") is not None:
                        ratios[f"lat_p50_added_ms_{t}"] = _r(x["lat_p50_ms"] - d["lat_p50_ms"], 4)
                    if x and x.get("lat_avg_ms") is not None and d.get("lat_avg_ms") is not None:
                        ratios[f"lat_avg_added_ms_{t}"] = _r(x["lat_avg_ms"] - d["lat_avg_ms"], 4)
            if "pgbouncer_b" in sd["targets"]:
                ratios["noise_floor_pgbouncer_vs_pgbouncer_b"] = _ratio(
                    g(p, "tps_median"), g(entry.get("pgbouncer_b"), "tps_median"))
            if "sluice_s1" in sd["targets"]:
                one = entry.get("sluice_s1")
                for n in ("2", "4"):
                    x = entry.get("sluice_s" + n)
                    ratios[f"tps_sluice_s{n}_vs_s1"] = _ratio(g(x, "tps_median"), g(one, "tps_median"))
                    ratios[f"cpu_sluice_s{n}_vs_s1"] = _ratio(g(x, "cpu_s_per_1k_tx"),
                                                              g(one, "cpu_s_per_1k_tx"))
                pin = entry.get("pgbouncer_p1")
                ratios["tps_sluice_s1_vs_pgbouncer_p1"] = _ratio(g(one, "tps_median"), g(pin, "tps_median"))
                ratios["cpu_sluice_s1_vs_pgbouncer_p1"] = _ratio(g(one, "cpu_s_per_1k_tx"),
                                                                 g(pin, "cpu_s_per_1k_tx"))
            if "sluice_tls" in sd["targets"]:
                st, pt = entry.get("sluice_tls"), entry.get("pgbouncer_tls")
                ratios["tps_sluice_tls_vs_pgbouncer_tls"] = _ratio(g(st, "tps_median"),
                                                                   g(pt, "tps_median"))
                ratios["cpu_sluice_tls_vs_pgbouncer_tls"] = _ratio(g(st, "cpu_s_per_1k_tx"),
                                                                   g(pt, "cpu_s_per_1k_tx"))
                ratios["tps_sluice_tls_vs_direct"] = _ratio(g(st, "tps_median"), g(d, "tps_median"))
            if "sluice_w1" in sd["targets"]:
                ratios["tps_sluice_w1_vs_pgbouncer"] = _ratio(
                    g(entry.get("sluice_w1"), "tps_median"), g(p, "tps_median"))
                ratios["cpu_sluice_w1_vs_pgbouncer"] = _ratio(
                    g(entry.get("sluice_w1"), "cpu_s_per_1k_tx"), g(p, "cpu_s_per_1k_tx"))
        entry["ratios"] = ratios
        if not entry["notes"]:
            del entry["notes"]
        scenarios.append(entry)

    result = {
        "command": meta["command"],
        "mode": meta["mode"],
        "started": meta["started"],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": meta.get("elapsed_s"),
        "machine": meta["machine"],
        "setup": meta["setup"],
        "target_errors": target_errors or None,
        "scenarios": scenarios,
    }
    # --scrub order from bench/run: the temp dir, then the repository
    repl = [(x, name) for x, name in zip(meta.get("scrub", []), ("<tmp>", "<repo>")) if x]
    result = sanitize(result, repl)
    os.makedirs(a.outdir, exist_ok=True)
    with open(os.path.join(a.outdir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    chart_ok = write_chart(result, a.outdir, a.chart_name)
    write_markdown(result, os.path.join(a.outdir, "results.md"), a.chart_name if chart_ok else None)
    sys.exit(0 if sluice_any else 3)


def md_table(L, header, sc, targets, rows):
    """One results.md table: the header, then for each target the rows rows(x) gives (lists of
    the cells after the target's), or one N/A row when the target has no result."""
    L.append("| " + " | ".join(header) + " |")
    L.append("|" + "---|" * len(header))
    for t in targets:
        x = sc.get(t)
        if x is None:
            L.append(f"| {t} | N/A |" + " |" * (len(header) - 2))
            continue
        for cells in rows(x):
            L.append(f"| {t} | " + " | ".join(cells) + " |")


def write_markdown(res, path, chart_name):
    L = []
    m = res["machine"]
    L.append("# sluice benchmark results\n")
    L.append(f"Mode: **{res['mode']}**, started {res['started']}, finished {res['finished']}"
             + (f", {res['elapsed_s']} s total" if res.get("elapsed_s") else "") + ".\n")
    L.append("Reproduce with:\n\n```\n" + res["command"] + "\n```\n")
    L.append("## Machine\n")
    for k in ("nproc", "cpu_model", "ram_mb", "kernel", "os", "loadavg_at_start", "loadavg_at_end",
              "postgresql", "pgbouncer",
              "sluice_binary", "sluice_commit", "sluice_version"):
        if k in m:
            L.append(f"- {k}: {m[k]}")
    L.append("")
    s = res["setup"]
    L.append("## Setup\n")
    for k, v in s.items():
        L.append(f"- {k}: {v}")
    L.append("")
    if res.get("target_errors"):
        L.append("## Targets that failed to start\n")
        for t, errs in res["target_errors"].items():
            L.append(f"- **{t}**: " + errs[0].replace("\n", " / ")[:600])
        L.append("")
    if chart_name:
        L.append(f"![TPS per scenario]({chart_name})\n")
    else:
        L.append("(no TPS chart: no scenario produced a TPS number)\n")
    L.append("Medians over the repetitions; `min–max` is the spread of TPS over the "
             "repetitions. Latencies come from pgbench's per-transaction logs (median of the "
             "per-repetition percentiles). *pooler CPU* is user+system time of the pooler process "
             "(all threads) per 1,000 transactions; *total CPU* is the busy time of the whole "
             "machine (PostgreSQL + pgbench + pooler) per 1,000 transactions. *peak RSS* is the "
             "pooler's VmHWM during the run (reset before each run).\n")
    for sc in res["scenarios"]:
        L.append(f"## {sc['name']}: {sc['description']}\n")
        if sc.get("pgbench"):
            L.append(f"`pgbench {sc['pgbench']}`, {sc['duration_s']} s per run, "
                     f"{sc['reps_planned']} interleaved repetitions.\n")
        targets = [t for t in ("direct", "pgbouncer", "pgbouncer_b", "pgbouncer_p1",
                               "pgbouncer_tls", "sluice", "sluice_w1", "sluice_s1", "sluice_s2",
                               "sluice_s4", "sluice_tls")
                   if t in sc]
        if sc.get("kind") == "idle":
            md_table(L, ["target", "clients", "connect all (s, median)", "min–max", "RSS added (kB)",
                         "per client (bytes)", "RSS with clients (kB)", "pooler CPU to connect (s)",
                         "client CPU (s)", "reps"], sc, targets, lambda x: [[
                f"{x['clients']}", fmt(x['connect_time_s_median'], 2),
                f"{fmt(x['connect_time_s_min'], 2)}–{fmt(x['connect_time_s_max'], 2)}",
                fmt(x['rss_delta_kb_median'], 0), fmt(x['rss_per_client_bytes'], 0),
                fmt(x['rss_with_clients_kb'], 0), fmt(x['cpu_s_connect_median'], 2),
                fmt(x.get('client_cpu_s_median'), 2), f"{x['reps']}"]])
            L.append("")
            L.append("RSS added = pooler VmRSS with all clients connected minus VmRSS before the "
                     "scenario. The connect time is bounded by the Python client when *client CPU* "
                     "is close to it.")
        elif sc.get("kind") == "failover":
            def events(x):
                return [[e["event"], fmt(e["writable_after_s"], 2),
                         ("none within " + fmt(e["window_s"], 1) + " s"
                          if e["resumed_ms"] is None else fmt(e["resumed_ms"])),
                         f"{e['failed']}", fmt(e["failed_after_resuming"]), f"{e['readonly_errors']}",
                         f"{e['connections_dropped']}", f"{e['writes_ok_after_open']}",
                         f"{x['lost_commits']} / {x['acked_commits']}"] for e in x["events"]]
            md_table(L, ["target", "event", "new primary writable after (s)",
                         "first write after that (ms)", "failed tx", "failed after resuming",
                         "read-only errors", "connections dropped", "writes ok after it opened",
                         "lost / acknowledged commits (whole run)"], sc, targets, events)
            L.append("")
            first = next((sc.get(t) for t in targets if sc.get(t)), None)
            if first:
                L.append(f"{first['writers']} writers per pooler, each inserting one row every "
                         f"{first['interval_ms']} ms on a client connection it keeps open (it logs in "
                         "again when the pooler closes it). Events: "
                         + "; ".join(f"*{e['event']}*: {e['what']}" for e in first["events"]) + ".")
        elif sc.get("kind") == "notify":
            md_table(L, ["target", "listeners", "notifications", "p50 (ms)", "p99 (ms)", "max (ms)",
                         "delivered / expected", "reps"], sc, targets, lambda x: [[
                f"{x['listeners']}", f"{x['notifications']}", fmt(x['p50_ms'], 3),
                fmt(x['p99_ms'], 3), fmt(x['max_ms'], 3), f"{x['delivered']} / {x['expected']}",
                f"{x['reps']}"]])
        else:
            md_table(L, ["target", "TPS (median)", "min–max", "lat avg (ms)", "p50 (ms)", "p99 (ms)",
                         "pooler CPU s/1k tx", "total CPU s/1k tx", "peak RSS (kB)", "failed", "reps"],
                     sc, targets, lambda x: [[
                fmt(x['tps_median'], 0), f"{fmt(x['tps_min'], 0)}–{fmt(x['tps_max'], 0)}",
                fmt(x['lat_avg_ms'], 3), fmt(x['lat_p50_ms'], 3), fmt(x['lat_p99_ms'], 3),
                fmt(x['cpu_s_per_1k_tx'], 4), fmt(x['total_cpu_s_per_1k_tx'], 4),
                fmt(x['peak_rss_kb']), f"{x['failed']}", f"{x['reps']}"]])
        L.append("")
        rat = {k: v for k, v in sc.get("ratios", {}).items() if v is not None}
        if rat:
            L.append("Ratios / deltas: " + ", ".join(f"{k} = **{v}**" for k, v in rat.items()) + "\n")
        for t, note in (sc.get("notes") or {}).items():
            L.append(f"- *{t}*: {note.replace(chr(10), ' / ')[:800]}")
        if sc.get("notes"):
            L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def write_chart(res, outdir, chart_name):
    targets = ["direct", "pgbouncer", "sluice"]
    rows = []
    for sc in res["scenarios"]:
        if sc.get("kind") in ("idle", "failover"):
            continue
        vals = []
        for t in targets:
            x = sc.get(t)
            v = x.get("tps_median") if x else None
            vals.append(v)
        if any(v is not None for v in vals):  # shard_scaling has targets of its own
            rows.append((sc["name"], vals))
    if not any(v is not None for _, vals in rows for v in vals):
        return False  # nothing to plot
    dat = os.path.join(outdir, "tps.dat")
    with open(dat, "w") as f:
        f.write("# scenario " + " ".join(targets) + "  (tps medians, NaN = N/A)\n")
        for name, vals in rows:
            f.write(f"\"{name}\" " + " ".join("NaN" if v is None else f"{v:.1f}" for v in vals) + "\n")
    ext = os.path.splitext(chart_name)[1]
    term = ("pngcairo size 1200,600 font 'sans,10'" if ext == ".png"
            else "svg size 1200,600 dynamic font 'sans,10'")
    present = [v for _, vals in rows for v in vals if v]
    if not present:
        present = [1.0, 10.0]
    ymin = 10 ** math.floor(math.log10(min(present) / 2))
    ymax = 10 ** math.ceil(math.log10(max(present) * 3))
    labels = ""
    n = len(targets)
    for i in range(n):
        off = (i - (n - 1) / 2.0) / (n + 1.0)  # bar width with "gap 1"
        labels += (f", '' using ($0{off:+.3f}):{i + 2}:(sprintf('%.0f', ${i + 2})) "
                   "with labels offset 0,0.7 font ',8' notitle")
    gp = f"""
set terminal {term}
set output '{os.path.join(outdir, chart_name)}'
set title 'TPS per scenario, median of the repetitions (no bar = N/A or failed)' noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [{ymin}:{ymax}]
set ylabel 'transactions per second (log scale)'
set grid ytics
set key top right
set xtics noenhanced nomirror
set datafile missing 'NaN'
plot '{dat}' using 2:xtic(1) title 'direct' lc rgb '#888888', \\
     '' using 3 title 'pgbouncer' lc rgb '#1f77b4', \\
     '' using 4 title 'sluice' lc rgb '#d62728'{labels}
"""
    try:
        p = subprocess.run(["gnuplot"], input=gp, text=True, capture_output=True, timeout=60)
        if p.returncode != 0:
            print("gnuplot failed: " + p.stderr.strip()[:500], file=sys.stderr)
            return False
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"gnuplot failed: {e}", file=sys.stderr)
        return False
    return True


# --------------------------------------------------------------------------
# machine / run metadata


def _cmd_first_line(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        out = (p.stdout or p.stderr).strip().splitlines()
        return out[0].strip() if out else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine_info(a):
    m = {"nproc": os.cpu_count()}
    try:
        m["nproc"] = int(_cmd_first_line(["nproc"]))
    except (TypeError, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    m["ram_mb"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    m["kernel"] = os.uname().release
    if a.loadavg_start:
        m["loadavg_at_start"] = a.loadavg_start
    try:
        with open("/proc/loadavg") as f:
            m["loadavg_at_end"] = " ".join(f.read().split()[:3])
    except OSError:
        pass
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    m["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    m["postgresql"] = _cmd_first_line([os.path.join(a.pg_bin, "postgres"), "--version"])
    m["pgbouncer"] = _cmd_first_line([a.pgbouncer, "--version"])
    m["pgbench"] = _cmd_first_line([os.path.join(a.pg_bin, "pgbench"), "--version"])
    m["sluice_binary"] = a.sluice_label
    commit = _cmd_first_line(["git", "-C", a.repo, "rev-parse", "HEAD"])
    if commit and not re.fullmatch(r"[0-9a-f]{40}", commit):
        commit = None  # not a git checkout (git said why on stderr), or no git at all
    if commit:
        try:
            dirty = subprocess.run(["git", "-C", a.repo, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=20).stdout.strip()
            if dirty:
                commit += "-dirty"
        except (OSError, subprocess.TimeoutExpired):
            pass
    m["sluice_commit"] = commit
    if a.sluice_version:
        m["sluice_version"] = a.sluice_version
    return m


def cmd_meta(a):
    meta = {
        "command": a.command,
        "mode": a.mode,
        "started": a.started,
        "elapsed_s": a.elapsed,
        "machine": machine_info(a),
        "setup": json.loads(a.setup),
        "scrub": a.scrub or [],
    }
    with open(a.out, "w") as f:
        json.dump(meta, f, indent=2)


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport")
    p = sub.add_parser("cpu")
    p.add_argument("pid", type=int)
    sub.add_parser("sysbusy")
    p = sub.add_parser("parse")
    p.add_argument("--out", required=True)
    p.add_argument("--logdir")
    p.add_argument("--rc", type=int, required=True)
    p.add_argument("--t0", type=float)
    p.add_argument("--t1", type=float)
    p.add_argument("--cpu-ticks", type=int)
    p.add_argument("--sys-ticks", type=int)
    p.add_argument("--hwm", type=int)
    p.add_argument("--error")
    p.add_argument("--note")
    p.add_argument("--duration", type=int)
    p.add_argument("--scenario", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--rep", type=int, required=True)
    p.add_argument("--append", required=True)
    p = sub.add_parser("idle")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default="bench")
    p.add_argument("--password", default="bench")
    p.add_argument("--database", default="bench")
    p.add_argument("-n", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--timeout", type=float, default=120, help="for all logins together")
    p.add_argument("--settle", type=float, default=0.5)
    p.add_argument("--pid", type=int)
    p.add_argument("--baseline-rss", type=int)
    p.add_argument("--scenario", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--rep", type=int, required=True)
    p.add_argument("--append", required=True)
    p = sub.add_parser("failover-writers")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--target", action="append", required=True, help="name:port")
    p.add_argument("--user", default="bench")
    p.add_argument("--password", default="bench")
    p.add_argument("--database", default="bench_fo")
    p.add_argument("--writers", type=int, default=16)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--ready", required=True, help="file written once every writer has a commit")
    p.add_argument("--stop", required=True, help="the writers stop when this file exists")
    p.add_argument("--log", required=True)
    p = sub.add_parser("failover-report")
    p.add_argument("--events", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--final", required=True, help="pooler, writer, seq rows on the final primary (TSV)")
    p.add_argument("--end", type=float, required=True)
    p.add_argument("--targets", required=True)
    p.add_argument("--writers", type=int, required=True)
    p.add_argument("--interval", type=float, required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--append", required=True)
    p = sub.add_parser("report")
    p.add_argument("--raw", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--chart-name", default="tps.png")
    p = sub.add_parser("meta")
    p.add_argument("--out", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--started", required=True)
    p.add_argument("--elapsed", type=int)
    p.add_argument("--pg-bin", required=True)
    p.add_argument("--pgbouncer", required=True)
    p.add_argument("--sluice-label", required=True)
    p.add_argument("--sluice-version")
    p.add_argument("--loadavg-start")
    p.add_argument("--repo", required=True)
    p.add_argument("--setup", required=True, help="JSON object")
    p.add_argument("--scrub", action="append")
    a = ap.parse_args()
    if a.cmd == "freeport":
        print(free_port())
    elif a.cmd == "cpu":
        print(proc_cpu_ticks(a.pid))
    elif a.cmd == "sysbusy":
        print(sys_busy_ticks())
    elif a.cmd == "parse":
        cmd_parse(a)
    elif a.cmd == "idle":
        cmd_idle(a)
    elif a.cmd == "failover-writers":
        cmd_failover_writers(a)
    elif a.cmd == "failover-report":
        cmd_failover_report(a)
    elif a.cmd == "meta":
        cmd_meta(a)
    elif a.cmd == "report":
        cmd_report(a)


if __name__ == "__main__":
    main()
