#!/usr/bin/python3
"""Runs a command (containerd) as the child of a child subreaper, for
e2e/cri/run.sh. containerd's shims daemonize: their parent exits, so they
are reparented to the nearest subreaper, and without one to PID 1, which
may leave them unreaped, and which the test cannot ask for them. Under this
process they and everything orphaned below them (a pause process whose
shim died) become its children: it reaps them, and once the command has
exited it kills whatever is left and reaps that too, then exits with the
command's status. SIGTERM/SIGINT are passed on to the command.

usage: reaper.py COMMAND [ARG...]
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children(me):
    """PIDs whose parent is this process (from /proc/*/stat)."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; fields after it don't.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            kids.append(int(name))
    return kids


def reap_all():
    """Reaps every child that has exited; returns [(pid, status)]."""
    done = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append((pid, status))


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("reaper: prctl(PR_SET_CHILD_SUBREAPER): %s\n" % os.strerror(ctypes.get_errno()))
        return 1
    cmd = os.fork()
    if cmd == 0:
        os.execvp(argv[1], argv[1:])
    forward = lambda sig, _frame: os.kill(cmd, sig)  # noqa: E731
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = None
    while status is None:
        pid, st = os.wait()
        if pid == cmd:
            status = os.waitstatus_to_exitcode(st)
    me = os.getpid()
    for _ in range(200):
        kids = children(me)
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        reap_all()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
