#!/usr/bin/env python3
"""Runs CMD under a seccomp filter that fails some system calls with an
errno, as a kernel without the feature (or a runtime's seccomp profile)
would. Root only (no no_new_privs needed); x86_64 and aarch64.

  deny-syscalls.py [--block-signals] [--nonblock] NAME[:ARG0]=ERRNO... -- CMD...

NAME[:ARG0]: fsopen, mount, socket:16 (AF_NETLINK: only when the first
argument is 16). --block-signals: CMD starts with every signal blocked.
--nonblock: with O_NONBLOCK set on its stdin and stdout."""
import ctypes
import errno
import os
import signal
import struct
import sys

NR = {
    "x86_64": {"socket": 41, "mount": 165, "fsopen": 430},
    "aarch64": {"socket": 198, "mount": 40, "fsopen": 430},
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# BPF: ld/jeq/ret; struct seccomp_data: nr @0, arch @4, args[0] @16.
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def program(machine, rules):
    p = [insn(LD_W_ABS, 0, 0, 4), insn(JEQ_K, 1, 0, AUDIT_ARCH[machine]), insn(RET_K, 0, 0, ALLOW)]
    for nr, arg0, err in rules:
        deny = insn(RET_K, 0, 0, ERRNO | err)
        if arg0 is None:
            p += [insn(LD_W_ABS, 0, 0, 0), insn(JEQ_K, 0, 1, nr), deny]
        else:
            p += [insn(LD_W_ABS, 0, 0, 0), insn(JEQ_K, 0, 3, nr),
                  insn(LD_W_ABS, 0, 0, 16), insn(JEQ_K, 0, 1, arg0), deny]
    return b"".join(p + [insn(RET_K, 0, 0, ALLOW)])


def main(argv):
    machine = os.uname().machine
    if "--" not in argv or machine not in NR:
        sys.exit(__doc__)
    sep = argv.index("--")
    opts, cmd = argv[:sep], argv[sep + 1:]
    rules = []
    for o in opts:
        if o == "--block-signals":
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            continue
        if o == "--nonblock":
            os.set_blocking(0, False)
            os.set_blocking(1, False)
            continue
        name, err = o.split("=")
        name, _, arg0 = name.partition(":")
        rules.append((NR[machine][name], int(arg0) if arg0 else None, getattr(errno, err)))
    code = program(machine, rules)
    buf = ctypes.create_string_buffer(code)
    fprog = struct.pack("HxxxxxxQ", len(code) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog)
    libc = ctypes.CDLL(None, use_errno=True)
    if rules and libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fbuf, 0, 0) != 0:
        sys.exit("seccomp: " + os.strerror(ctypes.get_errno()))
    os.execvp(cmd[0], cmd)


main(sys.argv[1:])
