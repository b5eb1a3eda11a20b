#!/usr/bin/env python3
"""A raw PostgreSQL client for the integration tests: sends exactly what a test asks for and
prints every message it gets back, one per line, until the server closes the connection.

    pgclient.py PORT USER DB [ACTION ...]

Actions, in order:
  ssl-pipelined   an SSLRequest and the startup packet in one write (instead of the startup)
  gss-pipelined   the same with a GSSENCRequest
  startup         the startup packet (implied unless ssl-pipelined or options: comes first)
  options:VALUE   the startup packet with an `options` parameter of VALUE
  scram-first     a well-formed SASLInitialResponse (SCRAM-SHA-256 client-first-message)
  startup-as:U:D  a second startup packet, for user U and database D, wherever it is sent
  big-auth:N      a SASLInitialResponse ('p') of N bytes in all
  query:SQL       a simple Query
  query-close:SQL a simple Query, then close the connection at once (no answer awaited)
  garbage:T       a message of type T (one character) with a 4-byte body
  terminate       a Terminate

The actions are sent once the server has answered the previous one: the startup when
ReadyForQuery (or an authentication request) has arrived, a query when its ReadyForQuery has.
Output lines: "N" / "S" for an SSL answer, "R <code>", "E <SQLSTATE> <message>", "Z <status>",
"T", "D", "C", ... (other message types by their tag), and "EOF" at the end.
"""
import socket
import struct
import sys

port, user, db = int(sys.argv[1]), sys.argv[2], sys.argv[3]
actions = sys.argv[4:]


def startup_packet(as_user=None, as_db=None, options=None):
    body = struct.pack("!I", 196608)
    params = [("user", as_user or user), ("database", as_db or db)]
    if options is not None:
        params.append(("options", options))
    for k, v in params:
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def message(tag, body):
    return tag + struct.pack("!I", len(body) + 4) + body


sock = socket.create_connection(("127.0.0.1", port), timeout=30)
buf = b""


def fill(n):
    global buf
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf += chunk
    return True


def next_message():
    """One message as (tag, body), or None at EOF."""
    global buf
    if not fill(5):
        return None
    tag = buf[:1]
    (length,) = struct.unpack("!I", buf[1:5])
    if not fill(1 + length):
        print(f"{tag.decode(errors='replace')} (truncated, declared {length})", flush=True)
        return None
    body = buf[5:1 + length]
    buf = buf[1 + length:]
    return tag, body


def show(tag, body):
    t = tag.decode(errors="replace")
    if t == "E" or t == "N":
        fields = {}
        for part in body.split(b"\0"):
            if part:
                fields[part[:1].decode()] = part[1:].decode(errors="replace")
        print(f"{t} {fields.get('C', '-')} {fields.get('M', '')}", flush=True)
    elif t == "R":
        print(f"R {struct.unpack('!I', body[:4])[0]}", flush=True)
    elif t == "Z":
        print(f"Z {body.decode(errors='replace')}", flush=True)
    else:
        print(t, flush=True)


def until(stop_tags):
    """Prints messages until one of stop_tags (returned) or EOF (None)."""
    while True:
        m = next_message()
        if m is None:
            return None
        show(*m)
        if m[0] in stop_tags:
            return m[0]


def main():
    global buf
    if not actions or not (actions[0] in ("ssl-pipelined", "gss-pipelined") or
                           actions[0].startswith("options:")):
        actions.insert(0, "startup")
    for a in actions:
        if a in ("ssl-pipelined", "gss-pipelined"):
            code = 80877103 if a == "ssl-pipelined" else 80877104
            sock.sendall(struct.pack("!II", 8, code) + startup_packet())
            if not fill(1):
                break
            print(buf[:1].decode(), flush=True)
            buf = buf[1:]
            if until((b"Z", b"R", b"E")) in (None, b"E"):
                break
        elif a == "startup":
            sock.sendall(startup_packet())
            if until((b"Z", b"R", b"E")) in (None, b"E"):
                break
        elif a.startswith("options:"):
            sock.sendall(startup_packet(options=a.split(":", 1)[1]))
            if until((b"Z", b"R", b"E")) in (None, b"E"):
                break
        elif a == "scram-first":
            mech = b"SCRAM-SHA-256\0"
            first = b"n,,n=,r=pgclientnonce0123456789"
            sock.sendall(message(b"p", mech + struct.pack("!i", len(first)) + first))
            if until((b"Z", b"R", b"E")) in (None, b"E"):
                break
        elif a.startswith("startup-as:"):
            _, u, d = a.split(":", 2)
            sock.sendall(startup_packet(as_user=u, as_db=d))
            if until((b"Z", b"R", b"E")) in (None, b"E"):
                break
        elif a.startswith("big-auth:"):
            n = int(a.split(":", 1)[1])
            mech = b"SCRAM-SHA-256\0"
            rest = n - 5 - len(mech) - 4
            sock.sendall(message(b"p", mech + struct.pack("!i", rest) + b"x" * rest))
            if until((b"Z", b"R", b"E")) in (None, b"E"):
                break
        elif a.startswith("query-close:"):
            sock.sendall(message(b"Q", a.split(":", 1)[1].encode() + b"\0"))
            sock.close()
            print("CLOSED", flush=True)
            return
        elif a.startswith("query:"):
            sock.sendall(message(b"Q", a.split(":", 1)[1].encode() + b"\0"))
            if until((b"Z",)) is None:
                break
        elif a.startswith("garbage:"):
            sock.sendall(message(a.split(":", 1)[1].encode(), b"abcd"))
        elif a == "terminate":
            sock.sendall(message(b"X", b""))
    until(())
    print("EOF", flush=True)


try:
    main()
except (ConnectionError, socket.timeout) as e:
    print(f"EOF ({e.__class__.__name__})", flush=True)
