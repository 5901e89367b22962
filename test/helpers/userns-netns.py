#!/usr/bin/env python3
"""Holds a network namespace owned by a new user namespace whose root is
outer uid/gid BASE (default 100000), as Kubernetes' hostUsers: false pods
get. Prints the holder's pid once the mapping is in place, then sleeps
until killed (at most --seconds). Root only: it writes uid_map itself
instead of relying on /etc/subuid and newuidmap."""
import argparse
import ctypes
import os
import signal
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

ap = argparse.ArgumentParser()
ap.add_argument("--base", type=int, default=100000)
ap.add_argument("--seconds", type=int, default=600)
args = ap.parse_args()

libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe()
r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.close(w2)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        os._exit(1)
    os.write(w, b"u")
    os.read(r2, 1)  # the parent wrote the maps
    signal.alarm(args.seconds)
    # Not the caller's stdout: $(...) would wait for the holder to exit.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.execvp("sleep", ["sleep", str(args.seconds)])
os.close(w)
os.close(r2)
if os.read(r, 1) != b"u":
    sys.exit("unshare(CLONE_NEWUSER|CLONE_NEWNET) failed")
for f, v in (("uid_map", f"0 {args.base} 65536\n"), ("setgroups", "deny"),
             ("gid_map", f"0 {args.base} 65536\n")):
    with open(f"/proc/{pid}/{f}", "w") as fh:
        fh.write(v)
os.write(w2, b"g")
print(pid, flush=True)
