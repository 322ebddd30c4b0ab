"""The process tree, read from /proc (Linux), for the benchmarks that measure a command's
processes: the service, its forkserver and parser workers, PostgreSQL's backends."""

from __future__ import annotations

import os

CLK = os.sysconf("SC_CLK_TCK")

ProcessTable = dict[int, tuple[int, float]]  # pid -> (parent pid, CPU seconds)


def processes() -> ProcessTable:
    """Every live process: its parent and its CPU seconds (own user+system plus that of the
    children it has reaped)."""
    out: ProcessTable = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                raw = fh.read()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        out[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / CLK)
    return out


def descendants(table: ProcessTable, root: int) -> list[int]:
    """``root`` and every live process below it (when ``root`` itself is live)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out
