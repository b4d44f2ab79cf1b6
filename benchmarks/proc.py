"""Server resource usage read from Linux ``/proc``.

CPU time is ``utime + stime`` of ``/proc/<pid>/stat``: the kernel sums it over
every thread of the process (live and exited), so a server's helper threads
count. Its resolution is one clock tick (usually 10 ms): figures far below that
need repetitions. Resident memory is ``VmRSS`` of ``/proc/<pid>/status``.
"""

from __future__ import annotations

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_RESOLUTION_S = 1.0 / _CLOCK_TICKS
"""Smallest CPU time difference ``cpu_seconds`` can show, in seconds."""


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time consumed so far by process ``pid``, in seconds.

    Raises:
        ProcessLookupError: if the process is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError as exc:
        raise ProcessLookupError(f"process {pid} is gone: no /proc/{pid}/stat") from exc
    # The command name (field 2) may hold spaces or parentheses: split after its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Return the resident set size of process ``pid``, in bytes.

    Raises:
        ProcessLookupError: if the process is gone.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError as exc:
        raise ProcessLookupError(f"process {pid} is gone: no /proc/{pid}/status") from exc
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ProcessLookupError(f"process {pid} has no VmRSS (a zombie?)")


def steal_ticks() -> tuple[int, int]:
    """Return (steal, total) clock ticks of all CPUs since boot, from ``/proc/stat``.

    Steal is time a virtual machine's CPUs were ready to run but the hypervisor ran
    something else: on a shared host it shows as stalls of tens of milliseconds that no
    server can avoid, and it inflates tail latencies.
    """
    with open("/proc/stat") as file:
        fields = [int(value) for value in file.readline().split()[1:]]
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])
