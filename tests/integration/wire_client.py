"""An extended-protocol client for the integration tests, written against the protocol
itself so a test controls exactly which messages go out in which write, and sees every
message that comes back.

    c = Conn(port, "bench", "bench", "bench")     # logs in (trust, cleartext, md5, SCRAM)
    c.parse("s1", "select $1::int", [23]).bind("s1", ["7"]).execute().sync().send()
    c.replies()   # ["1", "2", "D 7", "C SELECT 1", "Z I"]

Replies are short strings: the message tag, with the command tag after "C", the SQLSTATE
after "E", the status after "Z", the first column's text after "D"; "EOF" when the server
closed the connection.
"""
import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct


class Conn:
    def __init__(self, port, user, password, db, host="127.0.0.1", tls=False):
        self.sock = socket.create_connection((host, port), timeout=30)
        if tls:  # SSLRequest, then TLS without checking the pooler's certificate
            self.sock.sendall(struct.pack("!ii", 8, 80877103))
            if self.sock.recv(1) != b"S":
                raise RuntimeError("the pooler refused TLS")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""
        self.out = b""
        self.pending_ready = 0
        self.key = None  # (pid, secret) of BackendKeyData: what a CancelRequest sends
        self._login(user, password, db)

    # ---- building a write

    def _msg(self, tag, body):
        self.out += tag + struct.pack("!I", len(body) + 4) + body
        return self

    def parse(self, name, sql, types=()):
        body = name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", len(types))
        body += b"".join(struct.pack("!I", t) for t in types)
        return self._msg(b"P", body)

    def bind(self, stmt, params=(), portal=""):
        body = portal.encode() + b"\0" + stmt.encode() + b"\0" + struct.pack("!h", 0)
        body += struct.pack("!h", len(params))
        for p in params:
            if p is None:
                body += struct.pack("!i", -1)
            else:
                v = str(p).encode()
                body += struct.pack("!i", len(v)) + v
        body += struct.pack("!h", 0)
        return self._msg(b"B", body)

    def describe(self, kind, name=""):
        return self._msg(b"D", kind.encode() + name.encode() + b"\0")

    def execute(self, portal="", max_rows=0):
        return self._msg(b"E", portal.encode() + b"\0" + struct.pack("!i", max_rows))

    def close(self, kind, name=""):
        return self._msg(b"C", kind.encode() + name.encode() + b"\0")

    def sync(self):
        self.pending_ready += 1
        return self._msg(b"S", b"")

    def flush(self):
        return self._msg(b"H", b"")

    def query(self, sql):
        self.pending_ready += 1
        return self._msg(b"Q", sql.encode() + b"\0")

    def send(self):
        self.sock.sendall(self.out)
        self.out = b""
        return self

    def drop(self):
        """Closes the socket at once, answers unread."""
        self.sock.close()

    # ---- reading

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def message(self):
        if not self._fill(5):
            return None
        (length,) = struct.unpack("!I", self.buf[1:5])
        if not self._fill(1 + length):
            return None
        tag, body = self.buf[:1], self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return tag, body

    @staticmethod
    def show(tag, body):
        t = tag.decode()
        if t in ("E", "N"):
            fields = {p[:1]: p[1:] for p in body.split(b"\0") if p}
            return f"{t} {fields.get(b'C', b'-').decode()}"
        if t == "C":
            return "C " + body.rstrip(b"\0").decode()
        if t == "Z":
            return "Z " + body.decode()
        if t == "D":
            (n,) = struct.unpack("!h", body[:2])
            if n == 0:
                return "D"
            (ln,) = struct.unpack("!i", body[2:6])
            return "D " + ("NULL" if ln < 0 else body[6:6 + ln].decode())
        return t

    def replies(self, count=None):
        """What comes back until every Sync and Query sent has its ReadyForQuery (or, with
        count, until that many messages), as short strings."""
        got = []
        while (count is None and self.pending_ready > 0) or (count is not None and len(got) < count):
            m = self.message()
            if m is None:
                got.append("EOF")
                self.pending_ready = 0
                break
            if m[0] == b"N" or m[0] == b"S":  # notices and parameter changes: not answers
                continue
            got.append(self.show(*m))
            if m[0] == b"Z":
                self.pending_ready -= 1
        return got

    def run(self):
        return self.send().replies()

    def rows(self, sql):
        """The first column of every row of a simple query."""
        self.query(sql).send()
        return [r[2:] for r in self.replies() if r.startswith("D ")]

    def cancel_via(self, port, host="127.0.0.1", key=None):
        """Sends a CancelRequest with this connection's key (or `key`) to another address, as
        libpq does: on a new connection, closed once the pooler has closed it."""
        pid, secret = key or self.key
        s = socket.create_connection((host, port), timeout=30)
        s.sendall(struct.pack("!IIII", 16, 80877102, pid, secret))
        s.recv(16)
        s.close()

    # ---- login

    def _login(self, user, password, db):
        body = struct.pack("!I", 196608)
        for k, v in (("user", user), ("database", db)):
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        self.sock.sendall(struct.pack("!I", len(body) + 4) + body)
        while True:
            m = self.message()
            if m is None:
                raise ConnectionError("closed during login")
            tag, body = m
            if tag == b"E":
                raise ConnectionError("login failed: " + self.show(tag, body))
            if tag == b"Z":
                return
            if tag == b"K":
                self.key = struct.unpack("!II", body[:8])
            if tag != b"R":
                continue
            (code,) = struct.unpack("!I", body[:4])
            if code == 3:
                self._msg(b"p", password.encode() + b"\0").send()
            elif code == 5:
                inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                self._msg(b"p", b"md5" + outer.encode() + b"\0").send()
            elif code == 10:
                self._scram(password)

    def _scram(self, password):
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = ("n,," + first_bare).encode()
        mech = b"SCRAM-SHA-256\0"
        self._msg(b"p", mech + struct.pack("!i", len(first)) + first).send()
        tag, body = self.message()
        server_first = body[4:].decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        final_bare = f"c=biws,r={attrs['r']}"
        auth = f"{first_bare},{server_first},{final_bare}".encode()
        sig = hmac.new(stored, auth, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        final = f"{final_bare},p={base64.b64encode(proof).decode()}".encode()
        self._msg(b"p", final).send()
