#!/usr/bin/env python3
"""Context switches and CPU per process, and per thread of one process.

  switches.py SECONDS [PID] [--syscalls]

Reads /proc twice, SECONDS apart, and prints per process name (all the
processes of one name together, e.g. every PostgreSQL backend) the context
switches per second (voluntary and not), the involuntary ones, and the CPU
in % of one core; then the machine's CPU split and its context switches;
then, with PID, the same per thread name of that process. With --syscalls,
`perf stat` counts every thread's system calls meanwhile, and each row adds
them per second. bench-e2e.sh runs it with E2E_SWITCHES=1 (E2E_SYSCALLS=1
for the system calls), where a thread hop or a round trip costs more than
the work it carries (docs/benchmarks.md, fourteenth and twenty-sixth
rounds).
"""

import os
import subprocess
import sys
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def task_counts(task_dir):
    """(voluntary, involuntary, cpu ticks) of one task, or None if gone."""
    status = read(task_dir + "/status")
    stat = read(task_dir + "/stat")
    if status is None or stat is None:
        return None
    vol = invol = 0
    for line in status.splitlines():
        if line.startswith("voluntary_ctxt_switches"):
            vol = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches"):
            invol = int(line.split()[1])
    fields = stat[stat.rfind(")") + 2:].split()
    return vol, invol, int(fields[11]) + int(fields[12])


def add(table, key, counts):
    row = table.setdefault(key, [0, 0, 0, 0])
    for i in range(3):
        row[i] += counts[i]
    row[3] += 1


def snapshot(pid):
    processes, threads = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        comm = read("/proc/%s/comm" % p)
        if comm is None:
            continue
        try:
            tasks = os.listdir("/proc/%s/task" % p)
        except OSError:
            continue
        for t in tasks:
            counts = task_counts("/proc/%s/task/%s" % (p, t))
            if counts is None:
                continue
            add(processes, comm.strip(), counts)
            if p == pid:
                name = read("/proc/%s/task/%s/comm" % (p, t)) or "?"
                add(threads, name.strip(), counts)
    stat = read("/proc/stat").splitlines()
    cpu = [int(x) for x in stat[0].split()[1:]]
    ctxt = next(int(l.split()[1]) for l in stat if l.startswith("ctxt "))
    return processes, threads, cpu, ctxt


def count_syscalls(seconds, pid):
    """Sleeps SECONDS while perf stat counts each thread's system calls;
    returns them per process name and per thread name of PID."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".csv") as out:
        subprocess.run(["perf", "stat", "-e", "raw_syscalls:sys_enter", "-a",
                        "--per-thread", "-x,", "-o", out.name, "--",
                        "sleep", str(seconds)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        lines = out.read().splitlines()
    processes, threads = {}, {}
    for line in lines:
        fields = line.split(",")
        if len(fields) < 3 or not fields[1].isdigit():
            continue
        task, _, tid = fields[0].rpartition("-")
        status = read("/proc/%s/status" % tid) or ""
        tgid = next((l.split()[1] for l in status.splitlines()
                     if l.startswith("Tgid:")), None)
        comm = (read("/proc/%s/comm" % tgid) if tgid else None) or "(ended)"
        n = int(fields[1])
        processes[comm.strip()] = processes.get(comm.strip(), 0) + n
        if pid and tgid == pid:
            threads[task] = threads.get(task, 0) + n
    return processes, threads


def report(before, after, seconds, least, syscalls=None):
    rows = []
    for name, b in after.items():
        a = before.get(name)
        if a is None:
            continue
        switches = (b[0] + b[1] - a[0] - a[1]) / seconds
        invol = (b[1] - a[1]) / seconds
        cpu = 100.0 * (b[2] - a[2]) / TICKS / seconds
        if switches >= least or cpu >= 0.5:
            rows.append((switches, name, invol, cpu, b[3]))
    for switches, name, invol, cpu, count in sorted(rows, reverse=True):
        line = ("   %-20s x%-3d %8.0f switches/s (%6.0f involuntary)  CPU %5.1f %%"
                % (name, count, switches, invol, cpu))
        if syscalls is not None:
            line += "  %8.0f syscalls/s" % (syscalls.get(name, 0) / seconds)
        print(line)


def main():
    args = [a for a in sys.argv[1:] if a != "--syscalls"]
    with_syscalls = len(args) < len(sys.argv) - 1
    seconds = float(args[0])
    pid = args[1] if len(args) > 1 else None
    p0, t0, c0, x0 = snapshot(pid)
    sp = st = None
    if with_syscalls:
        try:
            sp, st = count_syscalls(seconds, pid)
        except (OSError, subprocess.CalledProcessError) as err:
            print("   (no system calls: perf stat failed: %s)" % err)
            p0, t0, c0, x0 = snapshot(pid)
            time.sleep(seconds)
    else:
        time.sleep(seconds)
    p1, t1, c1, x1 = snapshot(pid)
    print("   per process:")
    report(p0, p1, seconds, 20, sp)
    d = [b - a for a, b in zip(c0, c1)]
    total = float(sum(d)) or 1.0
    print("   machine: user %.0f %%, system %.0f %%, idle %.0f %%, softirq %.0f %%;"
          " %.0f context switches/s"
          % (100 * (d[0] + d[1]) / total, 100 * d[2] / total,
             100 * d[3] / total, 100 * d[6] / total, (x1 - x0) / seconds))
    if pid:
        print("   threads of %s:" % pid)
        report(t0, t1, seconds, 10, st)


if __name__ == "__main__":
    main()
