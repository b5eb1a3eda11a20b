#!/usr/bin/env python3
"""The floors of libpool/src, checked from the includes: a file may include headers of its own
folder and of the folders below it, never of one above. Top to bottom (libpool/CMakeLists.txt):

    runtime > admin, http > control > session > pool > net > shard > config, log

Exits 1 and names each upward include, or a folder that has no floor yet.
"""
import os
import re
import sys

FLOORS = {"log": 0, "config": 0, "shard": 1, "net": 2, "pool": 3, "session": 4,
          "control": 5, "admin": 6, "http": 6, "runtime": 7}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "libpool", "src")
problems = []
for folder in sorted(os.listdir(root)):
    if not os.path.isdir(os.path.join(root, folder)):
        continue
    if folder not in FLOORS:
        problems.append(f"libpool/src/{folder}/ has no floor in tests/layering.py")
        continue
    for dirpath, _, files in os.walk(os.path.join(root, folder)):
        for name in sorted(files):
            if not name.endswith((".hpp", ".cpp", ".h")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                target = m.group(1)
                if target in FLOORS and FLOORS[target] > FLOORS[folder]:
                    rel = os.path.relpath(path, root)
                    problems.append(f"{rel} includes {m.group(0).split(chr(34))[1]} ({target}/ is above {folder}/)")
for p in problems:
    print(p)
print(f"layering: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
