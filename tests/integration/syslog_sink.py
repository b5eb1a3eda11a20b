#!/usr/bin/env python3
"""syslog_sink.py SOCKET OUT: binds a Unix datagram socket at SOCKET (mode 0666) and appends
every datagram received to OUT, one per line, flushed at once. Runs until killed."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "ab", buffering=0) as f:
    while True:
        msg = s.recv(65536)
        f.write(msg.rstrip(b"\0\n") + b"\n")
