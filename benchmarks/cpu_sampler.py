"""The machine's busy CPU-seconds over time, from /proc/stat, for the benchmarks' CPU floor.

A background thread samples the busy ticks (everything but idle and iowait) once a second with
the monotonic clock, so the CPU a window used (a drill, a boot, the whole pack) can be read off
afterwards: ``busy_between(t0, t1)``. The floor of a window is its CPU-seconds divided by the
cores: no packing of the same work on this machine can take less wall time.
"""

from __future__ import annotations

import bisect
import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def busy_seconds() -> float:
    """CPU-seconds the machine has spent busy since boot (all cores): user, nice, system, irq
    and softirq; not idle, iowait, or steal (time a hypervisor gave to others)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / TICK


class CpuSampler:
    """Samples :func:`busy_seconds` every ``every`` seconds while in a ``with`` block."""

    def __init__(self, every: float = 1.0):
        self.every = every
        self.times: list[float] = []
        self.busy: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="cpu-sampler")

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        self.times.append(time.monotonic())
        self.busy.append(busy_seconds())

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _at(self, t: float) -> float:
        """Busy CPU-seconds at monotonic time ``t``, interpolated between samples."""
        i = bisect.bisect_left(self.times, t)
        if i <= 0:
            return self.busy[0]
        if i >= len(self.times):
            return self.busy[-1]
        t0, t1, b0, b1 = self.times[i - 1], self.times[i], self.busy[i - 1], self.busy[i]
        return b0 + (b1 - b0) * (t - t0) / (t1 - t0) if t1 > t0 else b1

    def busy_between(self, t0: float, t1: float) -> float:
        """CPU-seconds the machine was busy between monotonic times ``t0`` and ``t1``."""
        return round(self._at(t1) - self._at(t0), 1)
