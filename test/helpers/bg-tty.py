#!/usr/bin/env python3
"""Runs CMD as a background job of a terminal: in a new session whose
controlling terminal is a fresh pty with TOSTOP set, CMD in a process
group that is not the terminal's foreground one, its stdout that terminal
(stdin and stderr as given). Copies what CMD wrote there to stdout and
exits with its status; a CMD the terminal stopped is killed, exit
128 + the stop signal.

  bg-tty.py CMD..."""
import fcntl
import os
import pty
import sys
import termios


def session(slave, cmd):
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    attrs[3] |= termios.TOSTOP
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    job = os.fork()
    if job == 0:
        os.setpgid(0, 0)
        os.dup2(slave, 1)
        os.close(slave)
        os.execvp(cmd[0], cmd)
    _, st = os.waitpid(job, os.WUNTRACED)
    if os.WIFSTOPPED(st):
        os.kill(job, 9)
        os.waitpid(job, 0)
        os._exit(128 + os.WSTOPSIG(st))
    os._exit(os.waitstatus_to_exitcode(st) % 256 if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))


def main(cmd):
    if not cmd:
        sys.exit(__doc__)
    master, slave = pty.openpty()
    pid = os.fork()
    if pid == 0:
        os.close(master)
        session(slave, cmd)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every end of the terminal closed
            break
        if not chunk:
            break
        out += chunk
    _, st = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    sys.exit(os.waitstatus_to_exitcode(st))


main(sys.argv[1:])
