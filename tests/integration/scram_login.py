#!/usr/bin/env python3
"""A SCRAM-SHA-256 login, done by hand so a test can see the exchange:

    scram_login.py PORT USER PASSWORD DB

Prints "iterations N" from the server-first-message, then "ok" once the login succeeded
(AuthenticationOk and ReadyForQuery), or "error <SQLSTATE> <message>"; exits 0 only on "ok".
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys

port, user, password, db = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
sock = socket.create_connection(("127.0.0.1", port), timeout=30)
buf = b""


def recv_message():
    global buf
    while len(buf) < 5 or len(buf) < 1 + struct.unpack("!I", buf[1:5])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
    n = 1 + struct.unpack("!I", buf[1:5])[0]
    tag, body, buf = buf[:1], buf[5:n], buf[n:]
    return tag, body


def expect_auth(code):
    tag, body = recv_message()
    if tag == b"E":
        fields = dict((f[:1], f[1:].decode()) for f in body.split(b"\0") if f)
        print("error", fields.get(b"C", "?"), fields.get(b"M", "?"), flush=True)
        sys.exit(1)
    got = struct.unpack("!I", body[:4])[0] if tag == b"R" else None
    if got != code:
        sys.exit(f"expected authentication code {code}, got {tag!r} {got}")
    return body[4:]


def send(tag, body):
    sock.sendall(tag + struct.pack("!I", len(body) + 4) + body)


startup = struct.pack("!I", 196608)
for k, v in (("user", user), ("database", db)):
    startup += k.encode() + b"\0" + v.encode() + b"\0"
startup += b"\0"
sock.sendall(struct.pack("!I", len(startup) + 4) + startup)

expect_auth(10)  # AuthenticationSASL
nonce = base64.b64encode(os.urandom(18)).decode()
first_bare = f"n=,r={nonce}"
first = ("n,," + first_bare).encode()
send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)

server_first = expect_auth(11).decode()  # AuthenticationSASLContinue
attrs = dict(a.split("=", 1) for a in server_first.split(","))
iterations = int(attrs["i"])
print("iterations", iterations, flush=True)
salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), iterations)
client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
stored_key = hashlib.sha256(client_key).digest()
final_bare = f"c=biws,r={attrs['r']}"
auth_message = f"{first_bare},{server_first},{final_bare}".encode()
signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
proof = bytes(a ^ b for a, b in zip(client_key, signature))
send(b"p", f"{final_bare},p={base64.b64encode(proof).decode()}".encode())

expect_auth(12)  # AuthenticationSASLFinal
expect_auth(0)  # AuthenticationOk
while True:
    tag, body = recv_message()
    if tag == b"Z":
        break
send(b"X", b"")
print("ok", flush=True)
