#!/usr/bin/env python3
"""A small HTTP client for the tests of sluice's HTTP endpoint (standard library only).

  httpc.py req METHOD URL [TOKEN]   prints the status, then the body; exit 0
  httpc.py status METHOD URL [TOKEN]  prints the status alone
  httpc.py head METHOD URL NAME     prints the status and the value of response header NAME
  httpc.py metrics URL              checks the text exposition format strictly and prints
                                    one "name{labels} value" line per sample (labels sorted);
                                    exit 1 with the reason on the first violation
  httpc.py raw HOST PORT            sends stdin as is, prints the response's status line
  httpc.py keepalive URL N          N GETs over one connection, prints each status
  httpc.py hold HOST PORT N         opens N idle connections, then one more: prints the
                                    status line the extra one gets, then closes them all
"""
import http.client
import re
import socket
import sys
import urllib.parse

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
VALUE = re.compile(r"(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)\Z")


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10), path


def request(method, url, token=None):
    c, path = conn_for(url)
    headers = {"Authorization": "Bearer " + token} if token else {}
    c.request(method, path, headers=headers)
    r = c.getresponse()
    return r, r.read().decode()


def parse_labels(text, where):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            sys.exit(f"{where}: bad label syntax at {text[pos:]!r}")
        if m.group(1) in labels:
            sys.exit(f"{where}: label {m.group(1)} twice")
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                sys.exit(f"{where}: expected ',' in labels")
            pos += 1
    return labels


def check_metrics(body):
    """The 0.0.4 text format, as Prometheus reads it, plus sluice's own conventions."""
    types, seen_families, current, out = {}, set(), None, []
    hist = {}  # (family, labels without le) -> [(le, value)], and _count
    if not body.endswith("\n"):
        sys.exit("the exposition does not end with a newline")
    for n, line in enumerate(body.split("\n")[:-1], 1):
        where = f"line {n}"
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                sys.exit(f"{where}: malformed {line!r}")
            if line.startswith("# TYPE "):
                fam, typ = parts[2], parts[3]
                if typ not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    sys.exit(f"{where}: unknown type {typ}")
                if fam in types:
                    sys.exit(f"{where}: TYPE of {fam} given twice")
                if fam in seen_families:
                    sys.exit(f"{where}: TYPE of {fam} after its samples")
                types[fam] = typ
            continue
        if line.startswith("#") or not line:
            sys.exit(f"{where}: unexpected line {line!r}")
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)\Z", line)
        if not m:
            sys.exit(f"{where}: malformed sample {line!r}")
        name, ltext, value = m.group(1), m.group(2) or "", m.group(3)
        if not VALUE.match(value):
            sys.exit(f"{where}: bad value {value!r}")
        labels = parse_labels(ltext, where)
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                fam = name[: -len(suffix)]
        if fam not in types:
            sys.exit(f"{where}: sample of {name} without a TYPE")
        if fam != current and fam in seen_families:
            sys.exit(f"{where}: samples of {fam} are not together")
        current = fam
        seen_families.add(fam)
        if not fam.startswith("sluice_"):
            sys.exit(f"{where}: {fam} does not start with sluice_")
        if types[fam] == "counter" and not fam.endswith("_total"):
            sys.exit(f"{where}: counter {fam} does not end in _total")
        if types[fam] != "counter" and fam.endswith("_total"):
            sys.exit(f"{where}: {fam} ends in _total but is a {types[fam]}")
        if types[fam] == "histogram":
            key = (fam, tuple(sorted((k, v) for k, v in labels.items() if k != "le")))
            h = hist.setdefault(key, {"buckets": [], "count": None})
            if name.endswith("_bucket"):
                le = labels.get("le")
                if le is None:
                    sys.exit(f"{where}: bucket without le")
                h["buckets"].append((float(le), float(value)))
            elif name.endswith("_count"):
                h["count"] = float(value)
        out.append(name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "} " + value)
    for (fam, labels), h in hist.items():
        b = h["buckets"]
        if not b or b[-1][0] != float("inf"):
            sys.exit(f"{fam}{dict(labels)}: no +Inf bucket")
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            sys.exit(f"{fam}{dict(labels)}: buckets not increasing")
        if h["count"] != b[-1][1]:
            sys.exit(f"{fam}{dict(labels)}: _count {h['count']} != +Inf bucket {b[-1][1]}")
    return out


def status_line(sock):
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def main():
    cmd = sys.argv[1]
    if cmd in ("req", "status"):
        r, body = request(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
        print(r.status)
        if cmd == "req":
            sys.stdout.write(body)
    elif cmd == "head":
        r, _ = request(sys.argv[2], sys.argv[3])
        print(r.status, r.getheader(sys.argv[4], ""))
    elif cmd == "metrics":
        r, body = request("GET", sys.argv[2])
        if r.status != 200:
            sys.exit(f"/metrics answered {r.status}")
        if not r.getheader("Content-Type", "").startswith("text/plain; version=0.0.4"):
            sys.exit(f"content type {r.getheader('Content-Type')}")
        print("\n".join(check_metrics(body)))
    elif cmd == "raw":
        s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
        s.sendall(sys.stdin.buffer.read())
        print(status_line(s))
    elif cmd == "keepalive":
        c, path = conn_for(sys.argv[2])
        for _ in range(int(sys.argv[3])):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            print(r.status)
    elif cmd == "hold":
        host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        held = [socket.create_connection((host, port), timeout=10) for _ in range(n)]
        # A request on the last held one is answered: every one of them has been accepted.
        held[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if "200" not in status_line(held[-1]):
            sys.exit("a held connection was not served")
        extra = socket.create_connection((host, port), timeout=10)
        print(status_line(extra))
        for s in held + [extra]:
            s.close()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
