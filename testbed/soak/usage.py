"""The runner's own resource use, sampled into the history while a drill runs: CPU seconds
(user + system) and resident memory of this process, and its thread count. A soak's summary
reads them back: a runner whose memory grows with the history, or whose CPU grows with it,
shows here before it matters."""

from __future__ import annotations

import resource
import threading
from pathlib import Path

INTERVAL = 10.0


def rss_mb() -> float:
    """This process's resident memory now (``VmRSS``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return round(ru.ru_utime + ru.ru_stime, 2)


class UsageSampler:
    """``with UsageSampler(cluster): ...`` appends a ``runner_usage`` event every ``interval``
    seconds to the cluster's current history (the scenario's, once a scenario runs)."""

    def __init__(self, cluster, interval: float = INTERVAL) -> None:
        self.cluster, self.interval = cluster, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="testbed-usage")

    def sample(self) -> None:
        self.cluster.history.append(
            "runner_usage",
            cpu_s=cpu_seconds(),
            rss_mb=rss_mb(),
            threads=threading.active_count(),
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> UsageSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
