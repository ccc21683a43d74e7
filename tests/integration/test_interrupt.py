"""Ctrl-C during `testbed run`, as a user presses it: the fault in force is healed, a partial
verdict ("interrupted at step N") is written and said, and nothing of the run is left; a second
Ctrl-C skips the healing but still removes everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed import runtime

pytestmark = pytest.mark.integration

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
    proc = subprocess.Popen([str(exe), "run", str(path)], stdout=out, stderr=out, env=env)
    return proc, tmp_path / "home"


def _wait_for_sleep_step(proc: subprocess.Popen, home: Path, timeout: float = 300) -> Path:
    """The scenario's record folder, once its sleep step (index 3) has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "testbed run ended before the sleep step"
        for history in home.glob("runs/*/scenarios/interrupted-*/history.jsonl"):
            events = [json.loads(ln) for ln in history.read_text().splitlines() if ln.strip()]
            if any(e["kind"] == "step" and e.get("action") == "sleep" for e in events):
                return history.parent
        time.sleep(1)
    proc.kill()
    raise AssertionError("the sleep step never started")


def _left(run_id: str) -> list:
    containers, networks, volumes = runtime.run_objects(run_id)
    return [*containers, *networks, *volumes]


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
    run_id = folder.parent.parent.name
    assert _left(run_id) == [], "objects of the interrupted run were left behind"
