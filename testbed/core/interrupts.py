"""Clean-up that Ctrl-C cannot cut short: inside :func:`deferred`, SIGINT and SIGTERM print a
message instead of raising, so removing a run's containers always finishes (a second Ctrl-C
must still clean up). Outside the main thread signals cannot be caught; there it does nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from testbed.core import progress

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred(message: str = "cleaning up; this finishes in a few seconds") -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, lambda *_: progress.warn(message))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
