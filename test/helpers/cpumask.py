#!/usr/bin/env python3
"""The tests' one CPU-mask oracle, written independently of the plugin's
cpumask.c: the kernel's rps_cpus hex form (comma-separated 32-bit groups,
as wide as the possible CPUs) and cpulists.

  cpumask.py hex CPULIST     CPULIST within the online CPUs, as sysfs prints it
  cpumask.py list HEX        the cpulist of a sysfs hex mask ("" for none)
  cpumask.py online          the online CPUs' hex mask
  cpumask.py except CPULIST  the online CPUs but CPULIST, as a hex mask
"""
import sys


def cpus(s):
    out = set()
    for part in filter(None, s.strip().split(",")):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def sysfs(name):
    with open("/sys/devices/system/cpu/" + name) as f:
        return cpus(f.read())


def to_hex(cpu_set):
    n = max(sysfs("possible")) + 1
    m = sum(1 << c for c in cpu_set & sysfs("online"))
    groups = (n + 31) // 32
    first = ((n - 1) % 32) // 4 + 1
    out = []
    for g in range(groups - 1, -1, -1):
        w = first if g == groups - 1 else 8
        out.append("%0*x" % (w, (m >> (32 * g)) & ((1 << (4 * w)) - 1)))
    return ",".join(out)


def to_list(hexmask):
    m = int(hexmask.replace(",", "") or "0", 16)
    c = [i for i in range(m.bit_length()) if m >> i & 1]
    out, i = [], 0
    while i < len(c):
        j = i
        while j + 1 < len(c) and c[j + 1] == c[j] + 1:
            j += 1
        out.append(str(c[i]) if i == j else "%d-%d" % (c[i], c[j]))
        i = j + 1
    return ",".join(out)


if __name__ == "__main__":
    cmd, arg = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    if cmd == "hex":
        print(to_hex(cpus(arg)))
    elif cmd == "list":
        print(to_list(arg))
    elif cmd == "online":
        print(to_hex(sysfs("online")))
    elif cmd == "except":
        print(to_hex(sysfs("online") - cpus(arg)))
    else:
        sys.exit(__doc__)
