#!/usr/bin/env python3
"""Cancel requests across peered processes, for test_peers.sh and test_so_reuseport.sh.

    peer_cancel.py cross PORT...         for every pair (holder, other) of the ports: a client
                                         of holder runs pg_sleep(60), its key is sent to other;
                                         the query must end with 57014
    peer_cancel.py same PORT N           N clients on PORT (one shared port: whichever process
                                         the kernel picks), each cancelled through PORT again
    peer_cancel.py forged PORT...        while a client runs pg_sleep(2), 60 random keys that
                                         name each peer id 1..3 go to every port: the query
                                         must finish untouched
    peer_cancel.py dead HOLDER OTHER LOG TEXT
                                         the same as cross for one pair, where OTHER cannot
                                         reach HOLDER: once LOG holds TEXT the query must still
                                         run; it is then cancelled through HOLDER itself
    peer_cancel.py key PORT PID SECRET   sends one CancelRequest with this key to PORT

Prints one line per case; exits non-zero on the first that does not hold.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire_client import Conn  # noqa: E402

LOGIN = ("bench", "bench", "bench")


def running(c, holder):
    """Waits until the query c sent runs on a server (what comes back then is its result)."""
    watch = Conn(holder, *LOGIN)
    for _ in range(600):
        n = watch.rows("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)'"
                       " and state = 'active'")
        if n and int(n[0]) >= 1:
            watch.drop()
            return
        time.sleep(0.05)
    sys.exit(f"the query on {holder} never became active")


def cancel_one(holder, other):
    c = Conn(holder, *LOGIN)
    c.query("select pg_sleep(60)").send()
    running(c, holder)
    c.cancel_via(other)
    got = c.replies()
    c.drop()
    if "E 57014" not in got:
        sys.exit(f"client of {holder}, cancel sent to {other}: got {got}")
    return got


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "cross":
        ports = [int(p) for p in args]
        for h in ports:
            for o in ports:
                if h != o:
                    cancel_one(h, o)
                    print(f"client of {h} cancelled through {o}")
    elif mode == "same":
        port, n = int(args[0]), int(args[1])
        for i in range(n):
            cancel_one(port, port)
        print(f"{n} cancels through the shared port")
    elif mode == "forged":
        ports = [int(p) for p in args]
        c = Conn(ports[0], *LOGIN)
        c.query("select pg_sleep(2)").send()
        for k in range(60):
            key = bytearray(os.urandom(8))
            peer = 1 + k % 3
            key[0] &= 0x7F
            key[1], key[2] = peer & 0xFF, peer >> 8
            key[7] |= 3
            pid, secret = struct.unpack("!II", bytes(key))
            c.cancel_via(ports[k % len(ports)], key=(pid, secret))
        got = c.replies()
        if got != ["T", "D ", "C SELECT 1", "Z I"]:
            sys.exit(f"forged keys: the query got {got}")
        print("60 forged keys cancelled nothing")
    elif mode == "dead":
        holder, other, log, text = int(args[0]), int(args[1]), args[2], args[3]
        c = Conn(holder, *LOGIN)
        c.query("select pg_sleep(60)").send()
        running(c, holder)
        c.cancel_via(other)
        for _ in range(600):
            with open(log, errors="replace") as f:
                if text in f.read():
                    break
            time.sleep(0.05)
        else:
            sys.exit(f"{log} never said: {text}")
        c.sock.settimeout(0.0)
        try:
            early = c.sock.recv(1)
        except BlockingIOError:
            early = None
        if early is not None:
            sys.exit(f"the query ended though its cancel could not be forwarded: {early!r}")
        c.sock.settimeout(30)
        c.cancel_via(holder)
        got = c.replies()
        if "E 57014" not in got:
            sys.exit(f"the cancel through the holder itself: {got}")
        print(f"cancel through {other} failed to forward, the query ran on")
    elif mode == "key":
        port, pid, secret = int(args[0]), int(args[1]), int(args[2])
        Conn.__new__(Conn).cancel_via(port, key=(pid, secret))
    else:
        sys.exit(f"unknown mode {mode}")


main()
