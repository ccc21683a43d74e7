"""Progress output for long work (image builds, cluster boot, waits): what we wait for, how long.

Progress, warnings and logs go through the one rich Console here, on stderr; results (a
verdict, a plan, a table, a path, JSON) through :data:`results`, on stdout, so that a pipe or a
script reads the results alone (``testbed validate x.yaml | grep ok``). Text that comes from
outside (user input, logs, build output, error messages) is escaped, never read as Rich markup.
Output to a pipe or file is not wrapped; there a status prints a plain line when it starts and
every :data:`TICK` seconds while it lasts (a live spinner only on a terminal), so a CI log shows
long work progressing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

_TTY = sys.stderr.isatty()
console = Console(stderr=True, highlight=False, soft_wrap=True, width=None if _TTY else 200)
results = Console(
    highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200
)  # stdout
TICK = 20.0  # seconds between progress lines when stderr is not a terminal


def step(msg: str) -> None:
    """``msg`` may carry markup of our own; escape anything from outside before passing it."""
    console.print(f"[bold cyan]•[/] {msg}")


def done(msg: str, started: float) -> None:
    console.print(f"[green]✓[/] {msg} [dim]({time.monotonic() - started:.1f}s)[/]")


def warn(msg: str) -> None:
    console.print(f"[yellow]![/] {escape(msg)}")


def plain(text: str) -> None:
    """Print outside text as it is (no markup, no highlighting)."""
    console.print(text, markup=False)


def result(text: str) -> None:
    """Print a result (outside text as it is) on stdout."""
    results.print(text, markup=False)


@contextmanager
def results_on_stderr() -> Iterator[None]:
    """While a command keeps stdout for its JSON: the results a person reads go to stderr."""
    global results
    kept, results = results, console
    try:
        yield
    finally:
        results = kept


_LIVE = threading.Lock()  # one live display at a time (rich allows no more)


@contextmanager
def status(msg: str) -> Iterator[Callable[[str], None]]:
    """A one-line status; yields ``update(text)`` to show the latest detail. A status begun
    while another one is live (work side by side, e.g. two image builds) prints ticker lines."""
    if console.is_terminal and _LIVE.acquire(blocking=False):
        try:
            with _live(msg) as update:
                yield update
        finally:
            _LIVE.release()
    else:
        with _ticker(msg) as update:
            yield update


@contextmanager
def _live(msg: str) -> Iterator[Callable[[str], None]]:
    started = time.monotonic()
    with console.status(msg) as live:

        def update(detail: str) -> None:
            elapsed = time.monotonic() - started
            live.update(f"{msg} [dim]{elapsed:4.0f}s  {escape(detail[:90])}[/]")

        yield update


@contextmanager
def _ticker(msg: str) -> Iterator[Callable[[str], None]]:
    started, latest, stop = time.monotonic(), [""], threading.Event()
    plain(f"… {msg}")

    def tick() -> None:
        while not stop.wait(TICK):
            detail = f": {latest[0][:120]}" if latest[0] else ""
            plain(f"… {msg} ({time.monotonic() - started:.0f}s){detail}")

    ticker = threading.Thread(target=tick, daemon=True, name="progress")
    ticker.start()
    try:
        yield lambda detail: latest.__setitem__(0, detail)
    finally:
        stop.set()


class _Tagged:
    """A text stream that starts every line written to ``stream`` with ``tag``."""

    def __init__(self, stream, tag: str) -> None:
        self.stream, self.tag, self.at_line_start = stream, tag, True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self.at_line_start:
                self.stream.write(self.tag)
            self.stream.write(piece)
            self.at_line_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def tag_output(tag: str) -> None:
    """From now on, every line of this process's progress output starts with ``tag`` (a worker
    of a parallel run); no live display (the lines of several processes interleave)."""
    global console
    console = Console(file=_Tagged(sys.stderr, tag), highlight=False, soft_wrap=True, width=200)
