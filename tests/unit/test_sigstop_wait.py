"""A SIGSTOP is in force only once its process shows stopped in /proc: ``faults.wait_stopped``
against a real child process of this test (no Docker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from testbed import faults


def _busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def test_a_stopped_process_is_seen_stopped_and_a_running_one_is_not():
    proc = _busy()
    try:
        # running, sleeping, or (a fresh interpreter loading under a busy machine's disk)
        # in uninterruptible sleep: anything but stopped (seen "D" once in CI)
        assert faults.process_state(proc.pid) in ("R", "S", "D")
        assert faults.wait_stopped([proc.pid], timeout=0.2) == [proc.pid]  # never stopped
        os.kill(proc.pid, signal.SIGSTOP)
        assert faults.wait_stopped([proc.pid]) == []
        assert faults.process_state(proc.pid) == "T"
    finally:
        proc.kill()
        proc.wait()


def test_a_process_that_is_gone_does_not_hold_the_wait():
    proc = _busy()
    proc.kill()
    proc.wait()
    assert faults.process_state(proc.pid) is None
    assert faults.wait_stopped([proc.pid], timeout=5) == []
