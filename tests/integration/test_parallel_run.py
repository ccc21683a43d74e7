"""`testbed run --clusters 2`, as a user runs it: two real clusters side by side, each taking
the next scenario; a fault on one cluster leaves the other alone; Ctrl-C (to the terminal's
process group, which holds `testbed run` alone: it passes the signal on to its workers) heals
both, writes both partial verdicts and removes both runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker.errors
import pytest

from testbed import parallel, runtime
from testbed.core import labels
from tests.integration.records import left, sleeping
from tests.integration.terminal import default_signals

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-upgrades")]

TOPOLOGY = "topology: {workers: 1, timescale: 0.25}"
FROZEN = f"""
name: frozen
{TOPOLOGY}
steps:
  - expect: {{name: healthy first, check: healthy, probe: api_health, within: 60s}}
  - fault: {{name: freeze, kind: hang, target: scheduler, mode: pause}}
  - expect: {{name: seen, check: health_flipped, probe: api_health, after: freeze, within: 60s}}
  - heal: freeze
  - expect: {{name: back, check: health_recovered, probe: api_health, after: freeze, within: 60s}}
"""
# runs first (boots and resets take turns: the first cluster drills while the second boots)
# and beside `frozen`: its scheduler must stay healthy while the other cluster's is frozen.
# Its window (200 s at 0.25) must outlast the second cluster's boot at the low CPU weight, the
# api-server's warm-up included (22-25 s before the warm-up; 54 s seen with it on a slow day;
# 149 s on a fresh machine, the other lane and the Kubernetes node's build beside it, where a
# 140-s window ended before the other cluster's freeze began).
CALM = f"""
name: calm
{TOPOLOGY}
steps:
  - trigger: {{name: t, dag: long_task, conf: {{seconds: 40}}}}
  - expect: {{name: steady, check: health_stable, probe: scheduler_health, during: 800s}}
  - wait: {{run: t, state: success, timeout: 120s}}
  - expect: {{name: done, check: no_task_lost}}
"""
# a hold far longer than the test waits (60 m is 15 m at 0.25): the first cluster's sleep must
# still be running when the second, booted at the low weight, reaches its own
STUCK = f"""
name: stuck-NUMBER
{TOPOLOGY}
steps:
  - fault: {{name: freeze, kind: hang, target: worker-1, mode: pause}}
  - sleep: 60m
  - expect: {{name: never reached, check: healthy, probe: api_health}}
"""


def _run(tmp_path: Path, texts: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    files = []
    for name, text in texts.items():
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(text)
    exe = Path(sys.executable).with_name("testbed")
    env = {**os.environ, "TESTBED_HOME": str(tmp_path / "home")}
    out = (tmp_path / "out.txt").open("w")
    cmd = [str(exe), "run", "--clusters", "2", *map(str, files)]
    # its own process group, as a terminal's foreground job (the workers make groups of their
    # own; a Ctrl-C to this group reaches them through `testbed run`)
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=out, env=env, start_new_session=True, preexec_fn=default_signals
    )
    return proc, tmp_path / "home"


def _records(home: Path) -> dict[str, Path]:
    return {p.name.rsplit("-", 1)[0]: p for p in home.glob("runs/*/scenarios/*")}


def test_two_clusters_side_by_side_each_with_its_own_faults(tmp_path):
    proc, home = _run(tmp_path, {"calm": CALM, "frozen": FROZEN})
    try:
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = (tmp_path / "out.txt").read_text()
    assert code == 0, output[-3000:]
    records = _records(home)
    assert set(records) == {"frozen", "calm"}
    runs = {name: folder.parent.parent.name for name, folder in records.items()}
    assert runs["frozen"] != runs["calm"]  # two clusters
    for folder in records.values():
        assert json.loads((folder / "verdict.json").read_text())["ok"] is True
    assert "[c1] " in output and "[c2] " in output  # each worker's lines carry its tag
    frozen = [json.loads(ln) for ln in (records["frozen"] / "history.jsonl").open()]
    calm = [json.loads(ln) for ln in (records["calm"] / "history.jsonl").open()]
    fault = {e["phase"]: e["wall"] for e in frozen if e["kind"] == "fault"}
    steady = next(e for e in calm if e["kind"] == "expectation" and e["name"] == "steady")
    window = [e["wall"] for e in calm if e["kind"] == "step" and e.get("name") == "steady"]
    overlap = min(fault["heal"], window[-1]) - max(fault["inject"], window[0])
    assert overlap > 2, "the other cluster's scheduler was not frozen during the window"
    assert steady["ok"] and steady["measurements"]["total"] >= 10
    for run_id in runs.values():
        assert left(run_id) == []


def test_ctrl_c_heals_and_removes_both_clusters(tmp_path):
    proc, home = _run(
        tmp_path, {"a": STUCK.replace("NUMBER", "1"), "b": STUCK.replace("NUMBER", "2")}
    )
    weights: dict[str, set[int]] = {}  # run id -> every CPU weight its containers were seen at
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(sleeping(home)) < 2:
            assert proc.poll() is None, (tmp_path / "out.txt").read_text()[-3000:]
            _weights(home, weights)
            time.sleep(0.5)
        assert len(sleeping(home)) == 2, "both scenarios never reached their sleep"
        # the second boot ran beside the first cluster's drill at the low weight (the first
        # never did; cgroup v1 only: on v2 no weight is lowered); once up, every container of
        # both runs is back at the engine's default
        low = [parallel.BOOT_WEIGHT in w for w in weights.values()]
        assert sorted(low) == ([False, True] if runtime.cgroup_v1() else [False, False])
        now = _weights(home, {})
        assert len(now) == 2 and all(w <= {0, 1024} for w in now.values()), now
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert proc.wait(timeout=300) == 130  # two heals and teardowns, on a busy machine
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    for folder in _records(home).values():
        verdict = json.loads((folder / "verdict.json").read_text())
        assert verdict["interrupted"].startswith("at step 1")
        events = [json.loads(ln) for ln in (folder / "history.jsonl").open()]
        assert [e["name"] for e in events if e["kind"] == "fault" and e["phase"] == "heal"] == [
            "freeze"
        ]
        assert left(folder.parent.parent.name) == []


def _weights(home: Path, seen: dict[str, set[int]]) -> dict[str, set[int]]:
    """Add the CPU weight (cgroup cpu.shares; 0 is the engine's default) of every container of
    this test's runs to ``seen``, by run id."""
    runs = {p.name for p in home.glob("runs/*")}
    for c in runtime.run_objects()[0]:
        run = runtime.labels_of(c)[labels.RUN]
        if run in runs:
            with contextlib.suppress(docker.errors.NotFound):
                c.reload()
                seen.setdefault(run, set()).add(c.attrs["HostConfig"]["CpuShares"])
    return seen
