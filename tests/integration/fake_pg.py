#!/usr/bin/env python3
"""A PostgreSQL server that misbehaves on purpose, for the integration tests.

    fake_pg.py MODE PORTFILE

Listens on 127.0.0.1 on a free port, writes the port to PORTFILE, and serves every connection
in MODE until killed. It speaks just enough of the v3 protocol: an SSLRequest or GSSENCRequest
is answered 'N', a startup packet starts the mode's script. Modes:

  silent          never answers the startup packet
  error_nocode    ErrorResponse without a SQLSTATE field instead of authenticating
  error_28P01     ErrorResponse 28P01 "password authentication failed ..." (as PostgreSQL)
  scram_big_nonce AuthenticationSASL, then a server-first-message with a 100 kB nonce
  scram_iter:N    AuthenticationSASL, then a server-first-message asking for N iterations
  bad_rfq         logs in (trust); every Query gets ReadyForQuery with status 'X'
  huge_message    logs in (trust); every Query gets a header declaring a 100 MB DataRow
  huge_split      the same header in two writes, 0.2 s apart, so that the pooler reads
                  its first bytes before it can see the declared length
  ok              logs in (trust); every Query gets EmptyQueryResponse and ReadyForQuery
  hang            logs in (trust); a Query that starts with "select" is never answered (others,
                  such as a parameter replay's SET, are), and a CancelRequest connection
                  is held open (never closed from this side): "open" goes to PORTFILE.cancels
                  when one arrives, "closed" when the pooler closes it

Each connection is counted in PORTFILE.conns (one line per accepted connection), so a test can
tell whether the pooler reconnected, and each Query's text goes to PORTFILE.queries (one line
each, "<>" for an empty query).
"""
import os
import socket
import struct
import sys
import threading
import time

MODE = sys.argv[1]
PORTFILE = sys.argv[2]
lock = threading.Lock()


def msg(tag, body=b""):
    return tag + struct.pack("!I", len(body) + 4) + body


def error(fields):
    body = b"".join(k + v.encode() + b"\0" for k, v in fields) + b"\0"
    return msg(b"E", body)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def note_cancel(what):
    with lock, open(PORTFILE + ".cancels", "a") as f:
        f.write(what + "\n")


def read_startup(conn):
    """Reads startup-phase packets until a StartupMessage; True if one arrived."""
    while True:
        (length,) = struct.unpack("!I", recv_exact(conn, 4))
        body = recv_exact(conn, length - 4)
        (code,) = struct.unpack("!I", body[:4])
        if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
            conn.sendall(b"N")
            continue
        if code == 80877102 and MODE == "hang":  # CancelRequest: never acted on or closed
            note_cancel("open")
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass
            note_cancel("closed")
            return False
        return code == 196608


def read_message(conn):
    tag = recv_exact(conn, 1)
    (length,) = struct.unpack("!I", recv_exact(conn, 4))
    return tag, recv_exact(conn, length - 4)


def login_trust(conn):
    out = msg(b"R", struct.pack("!I", 0))
    for k, v in (("server_version", "15.0"), ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
                 ("TimeZone", "UTC"), ("integer_datetimes", "on"),
                 ("standard_conforming_strings", "on")):
        out += msg(b"S", k.encode() + b"\0" + v.encode() + b"\0")
    out += msg(b"K", struct.pack("!II", 4242, 1234))
    out += msg(b"Z", b"I")
    conn.sendall(out)


def serve(conn):
    with conn:
        if not read_startup(conn):
            return
        if MODE == "silent":
            while conn.recv(4096):
                pass
            return
        if MODE == "error_nocode":
            conn.sendall(error([(b"S", "FATAL"), (b"M", "the fake server refuses you")]))
            return
        if MODE == "error_28P01":
            conn.sendall(error([(b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"),
                                (b"M", 'password authentication failed for user "bench"')]))
            return
        if MODE == "scram_big_nonce" or MODE.startswith("scram_iter:"):
            conn.sendall(msg(b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0"))
            tag, body = read_message(conn)  # SASLInitialResponse
            # the client's nonce, extended by 100 kB or by a little
            first = body[body.index(b"\0") + 5:].decode()
            nonce = first.split("r=", 1)[1]
            if MODE == "scram_big_nonce":
                server_first = "r=" + nonce + "x" * 100000 + ",s=c2FsdHNhbHRzYWx0,i=4096"
            else:
                server_first = "r=" + nonce + "fake,s=c2FsdHNhbHRzYWx0,i=" + MODE.split(":")[1]
            conn.sendall(msg(b"R", struct.pack("!I", 11) + server_first.encode()))
            while conn.recv(4096):
                pass
            return
        login_trust(conn)
        while True:
            tag, body = read_message(conn)
            if tag == b"X":
                return
            if tag != b"Q":
                continue
            with lock, open(PORTFILE + ".queries", "a") as f:
                f.write((body.rstrip(b"\0").decode(errors="replace") or "<>") + "\n")
            if MODE == "hang" and body.lower().startswith(b"select"):
                continue
            if MODE == "bad_rfq":
                conn.sendall(msg(b"I") + msg(b"Z", b"X"))
            elif MODE == "huge_message":
                conn.sendall(b"D" + struct.pack("!I", 100 * 1024 * 1024) + b"\0\1")
            elif MODE == "huge_split":
                header = b"D" + struct.pack("!I", 100 * 1024 * 1024)
                conn.sendall(header[:3])
                time.sleep(0.2)
                conn.sendall(header[3:] + b"\0\1")
            else:
                conn.sendall(msg(b"I") + msg(b"Z", b"I"))


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    tmp = PORTFILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(tmp, PORTFILE)
    while True:
        conn, _ = srv.accept()
        with lock, open(PORTFILE + ".conns", "a") as f:
            f.write("1\n")
        threading.Thread(target=lambda c=conn: run(c), daemon=True).start()


def run(conn):
    try:
        serve(conn)
    except (EOFError, OSError):
        pass


if __name__ == "__main__":
    main()
