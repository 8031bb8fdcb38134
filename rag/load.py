"""How many cores other programs are keeping busy, and how many decoding threads that leaves.

llama.cpp's threads spin-wait for each other at every step of a token: with two threads on two cores
and one core taken by another program, decoding falls from 15.2 to 1.4 tokens/s here, far below the
8.2 that one thread keeps (README, Under load). So the embedded model decodes with as many threads as
there are cores nobody else is using, re-checked while it writes. Niced or idle-priority work (rag's
own background ingest, say) is not counted: the kernel gives its core back to us whenever we want it.
"""
from __future__ import annotations

import math
import os
import threading
import time

INTERVAL = 0.5  # seconds between readings: a load that starts mid-answer is seen within a second
# Another program's use of a core below this share is not worth giving up a thread for (a browser
# repainting, the UI's own web server); above it, spin-waiting starts to cost more than it gains.
SLACK = 0.25


def yield_cores() -> None:
    """From now on this thread, and the threads it starts, run only on cores nothing else wants
    (Linux SCHED_IDLE; nice 19 elsewhere). Measured with two such busy loops beside an answer: decode
    99 % of its quiet speed, where nice 10 left 83 % (bench, Under load). Nice 19 as well, so that
    /proc/stat counts its time as niced and CoreWatch does not take it for a competitor."""
    os.nice(19 - os.nice(0))
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def decode_threads(most: int, others_busy: float | None, available: int | None = None) -> int:
    """Threads for decoding, at most `most`: the cores that `others_busy` (cores' worth of other
    programs' work; None = unknown) leaves free, at least one."""
    if others_busy is None:
        return most
    available = cores() if available is None else available
    free = available - math.ceil(max(others_busy - SLACK, 0.0))
    return max(1, min(most, free))


class CoreWatch:
    """Other programs' CPU use, in cores, over the last INTERVAL: the machine's busy time from
    /proc/stat, niced work excluded, minus this process's own, read twice a second by a daemon thread."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self._interval = interval
        self._value: float | None = None
        if _machine_busy() is not None:
            threading.Thread(target=self._run, name="rag-core-watch", daemon=True).start()

    def others_busy(self) -> float | None:
        """The latest reading; None before the first one (half a second after start) or without /proc/stat."""
        return self._value

    def _run(self) -> None:
        before = _reading()
        while True:
            time.sleep(self._interval)
            after = _reading()
            elapsed = after[0] - before[0]
            if elapsed > 0:
                others = (after[1] - before[1]) - (after[2] - before[2])
                self._value = max(0.0, others / elapsed)
            before = after


def _reading() -> tuple[float, float, float]:
    """(monotonic seconds, seconds of non-niced busy time on all cores, this process's CPU seconds)."""
    own = os.times()
    return time.monotonic(), _machine_busy() or 0.0, own.user + own.system


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy() -> float | None:
    """Seconds of CPU time spent since boot on work that competes with ours: user, system, interrupts
    and steal (the hypervisor's other guests), not nice (yields to us), idle or iowait."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu" or len(fields) < 9:
        return None
    user, _nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + system + irq + softirq + steal) / _TICK
