"""`testbed` stops on SIGINT even when started with SIGINT ignored (a shell script's background
job): it tears down what it started and exits with the interrupted code, as on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from testbed.core.exit_codes import INTERRUPTED

CHILD = """
import time
import testbed.cli as cli
def app():
    print("started", flush=True)
    time.sleep(30)
cli.app = app
cli.main()
"""


def test_sigint_interrupts_a_command_started_with_sigint_ignored():
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.stdout.readline().strip() == "started"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == INTERRUPTED
    assert time.monotonic() - t0 < 10
