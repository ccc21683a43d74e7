"""Start the testbed's CLI as a terminal starts a foreground job: SIGINT and SIGTERM at their
defaults, whatever the test runner inherited. A CI started in the background of a
non-interactive shell runs with SIGINT ignored, and an ignored signal stays ignored across
exec (the testbed keeps it so on purpose: a background job must not take a terminal's Ctrl-C);
a test that presses Ctrl-C must not depend on how its runner was started."""

from __future__ import annotations

import signal


def default_signals() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: runs in the child before exec."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)
