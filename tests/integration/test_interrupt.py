"""Ctrl-C during `testbed run`, as a user presses it: the fault in force is healed, a partial
verdict ("interrupted at step N") is written and said, and nothing of the run is left; a second
Ctrl-C skips the healing but still removes everything.

The run boots a cluster of its own and its first task starts in it, so it also shows that
readiness warmed the api-server: the first task's Execution API request does not freeze it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.records import left, sleeping
from tests.integration.terminal import default_signals

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]

SCENARIO = """
name: interrupted
topology: {workers: 1}
steps:
  - trigger: {name: long, dag: long_task, conf: {seconds: 60}}
  - wait: {run: long, task: work, state: running, timeout: 120s}
  - fault: {name: freeze, kind: hang, target: worker-1, mode: pause}
  - sleep: 5m
  - expect: {check: no_task_lost}
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    path = tmp_path / "interrupted.yaml"
    path.write_text(SCENARIO)
    exe = Path(sys.executable).with_name("testbed")
    env = {**os.environ, "TESTBED_HOME": str(tmp_path / "home")}
    out = (tmp_path / "out.txt").open("w")
    proc = subprocess.Popen(
        [str(exe), "run", str(path)],
        stdout=out,
        stderr=out,
        env=env,
        preexec_fn=default_signals,
    )
    return proc, tmp_path / "home"


def _wait_for_sleep_step(proc: subprocess.Popen, home: Path, timeout: float = 300) -> Path:
    """The scenario's record folder, once its sleep step (index 3) has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"testbed run ended ({proc.returncode}) before the sleep step:\n"
                + _said(home.parent)
            )
        if found := sleeping(home, "interrupted-*"):
            return found[0]
        time.sleep(1)
    proc.kill()
    raise AssertionError("the sleep step never started:\n" + _said(home.parent))


def _silence_before_the_fault(events: list[dict]) -> int:
    """The longest run of API health probes in a row left unanswered between the trigger and
    the fault: the window in which the cluster's first task made its first Execution API
    request. Before readiness made that request, the api-server answered nothing there for
    4-22 s (2-7 probes in a row, ten runs of ten); one slow probe on a busy machine is not that.
    """
    start = next(e["mono"] for e in events if e["kind"] == "trigger")
    end = next(e["mono"] for e in events if e["kind"] == "fault" and e.get("phase") == "inject")
    longest = run = 0
    for e in events:
        if e.get("probe") == "api_health" and start <= e["mono"] <= end:
            run = run + 1 if e.get("error") else 0
            longest = max(longest, run)
    return longest


def _said(tmp_path: Path, lines: int = 60) -> str:
    """The end of what `testbed run` printed, and the steps' errors of its record."""
    out = (tmp_path / "out.txt").read_text().splitlines()[-lines:]
    for history in (tmp_path / "home").glob("runs/*/scenarios/*/history.jsonl"):
        out += [ln for ln in history.read_text().splitlines() if '"error"' in ln][-10:]
    return "\n".join(out)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_heals_writes_a_partial_verdict_and_removes_the_run(tmp_path, presses):
    proc, home = _start(tmp_path)
    try:
        folder = _wait_for_sleep_step(proc, home)
        proc.send_signal(signal.SIGINT)
        if presses == 2:
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    output = (tmp_path / "out.txt").read_text()
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["ok"] is False and verdict["interrupted"].startswith("at step 3")
    assert "INTERRUPTED interrupted" in output and "partial verdict" in output
    events = [json.loads(ln) for ln in (folder / "history.jsonl").read_text().splitlines()]
    healed = [e for e in events if e["kind"] == "fault" and e.get("phase") == "heal"]
    if presses == 1:  # healed before the teardown, and audited
        assert [e["name"] for e in healed] == ["freeze"]
        assert verdict["heal_problems"] == []
    assert _silence_before_the_fault(events) < 2, "the first task froze the api-server"
    run_id = folder.parent.parent.name
    assert left(run_id) == [], "objects of the interrupted run were left behind"
