"""Progress output for long work (image builds, cluster boot, waits): what we wait for, how long.

All user-facing output goes through the one rich Console here, on stderr, so stdout stays
usable for machine-readable output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

console = Console(stderr=True, highlight=False)


def step(msg: str) -> None:
    console.print(f"[bold cyan]•[/] {msg}")


def done(msg: str, started: float) -> None:
    console.print(f"[green]✓[/] {msg} [dim]({time.monotonic() - started:.1f}s)[/]")


def warn(msg: str) -> None:
    console.print(f"[yellow]![/] {msg}")


@contextmanager
def status(msg: str) -> Iterator[callable]:
    """A live one-line status; yields ``update(text)`` to show the latest detail."""
    started = time.monotonic()
    with console.status(msg) as live:

        def update(detail: str) -> None:
            live.update(f"{msg} [dim]{time.monotonic() - started:4.0f}s  {detail[:90]}[/]")

        yield update
