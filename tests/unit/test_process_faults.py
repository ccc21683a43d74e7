"""Process faults inside a node (``process:`` / ``cmdline:``) against a real process tree built
by this test the way an Airflow node's looks (no Docker): an init, the node's main process, a
child forked with the main's command line (the triggerer's trigger runner), a log server and a
task supervisor with titles of their own. The fault hits exactly the processes named, the heal
resumes exactly what it stopped, and the heal audit's /proc check sees what is left stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from testbed import faults
from testbed.core.errors import FaultError, ScenarioError
from testbed.faults.proc import (
    command_line,
    descendants,
    matching_pids,
    stopped_pids,
    wait_stopped,
)
from testbed.scenario.load import from_data

MAIN = """
import os, subprocess, time
if os.fork() == 0:
    time.sleep(120)  # forked, no exec: the main's own command line (a trigger runner)
    os._exit(0)
for title in os.environ["TITLES"].split("|"):  # not in this command line
    subprocess.Popen(["bash", "-c", f"exec -a '{title}' sleep 120"])
time.sleep(120)
"""
INIT = (
    "import subprocess, sys, time; "
    f"subprocess.Popen([sys.executable, '-c', {MAIN!r}]); time.sleep(120)"
)


class FakeContainer:
    def __init__(self, name: str, init_pid: int) -> None:
        self.name, self.attrs = name, {"State": {"Pid": init_pid}}

    def reload(self) -> None:
        pass


class FakeHistory:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def append(self, kind: str, **fields) -> dict:
        self.events.append({"kind": kind, **fields})
        return self.events[-1]


class FakeCluster:
    def __init__(self, container: FakeContainer) -> None:
        self.history, self._c = FakeHistory(), container

    def container(self, target: str) -> FakeContainer:
        return self._c


@pytest.fixture
def node():
    env = {**os.environ, "TITLES": "airflow serve-logs|airflow supervisor: etl.load"}
    init = subprocess.Popen([sys.executable, "-c", INIT], env=env)
    try:
        deadline = time.monotonic() + 20
        while not formed(init.pid):
            assert time.monotonic() < deadline, "the process tree did not form"
            time.sleep(0.05)
        yield FakeContainer("triggerer", init.pid)
    finally:
        for pid in descendants(init.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        init.kill()
        init.wait()


def formed(init: int) -> bool:
    """Main, its fork and two titled children, their ``exec -a`` done (bash's own command line
    names the title too; a child forked and not yet exec'd has the main's): each title once."""
    lines = [command_line(p) or "" for p in descendants(init)]
    titled = [line for line in lines if line.startswith("airflow ")]
    return len(lines) == 4 and len(titled) == 2


def titles(pids: list[int]) -> list[str]:
    return [(command_line(p) or "").split(" 120")[0] for p in pids]


def test_each_role_finds_only_its_own_processes(node):
    init = node.attrs["State"]["Pid"]
    main = descendants(init)[0]
    runner = matching_pids(node, "trigger-runner")
    assert len(runner) == 1 and runner[0] != main
    assert command_line(runner[0]) == command_line(main)
    assert titles(matching_pids(node, "serve-logs")) == ["airflow serve-logs"]
    assert titles(matching_pids(node, "task-supervisor")) == ["airflow supervisor: etl.load"]
    pool = matching_pids(node, "celery-pool-child")  # the main's children but its log server
    assert sorted(pool) == sorted([runner[0], *matching_pids(node, "task-supervisor")])
    assert titles(matching_pids(node, cmdline=r"supervisor: etl\.")) == [
        "airflow supervisor: etl.load"
    ]


def test_a_process_that_is_not_there_is_an_error_naming_what_runs(node):
    with pytest.raises(FaultError, match=r"(?s)no process 'task'.*airflow serve-logs"):
        matching_pids(node, "task")
    with pytest.raises(FaultError, match="no process matching 'nothing-like-this'"):
        matching_pids(node, cmdline="nothing-like-this")


def test_hang_stops_exactly_the_named_process_and_the_heal_resumes_it(node):
    cluster = FakeCluster(node)
    hang = faults.Hang(cluster, "triggerer", process="trigger-runner")
    hang.inject()
    runner = matching_pids(node, "trigger-runner")
    assert stopped_pids(node) == runner  # the audit's view: that one, nothing else
    stopped = [e for e in cluster.history.events if e.get("phase") == "stopped"]
    assert stopped[0]["pids"] == runner and stopped[0]["processes"]
    assert hang.heal()
    assert stopped_pids(node) == []


def test_kill_signals_exactly_the_named_process_and_the_node_runs_on(node):
    cluster = FakeCluster(node)
    supervisor = matching_pids(node, "task-supervisor")
    others = [p for p in descendants(node.attrs["State"]["Pid"]) if p not in supervisor]
    faults.Kill(cluster, "triggerer", cmdline="airflow supervisor:").inject()
    deadline = time.monotonic() + 5
    while faults.process_state(supervisor[0]) not in (None, "Z"):
        assert time.monotonic() < deadline, "the supervisor was not killed"
        time.sleep(0.05)
    assert all(faults.process_state(p) not in (None, "Z") for p in others)
    signalled = [e for e in cluster.history.events if e.get("phase") == "signalled"]
    assert signalled[0]["pids"] == supervisor and signalled[0]["signal"] == "KILL"


def _drill(target: str, **fault) -> dict:
    step = {"fault": {"name": "f", "kind": "hang", "target": target, **fault}}
    expect = {"expect": {"check": "no_task_lost"}}
    return {"name": "d", "steps": [step, {"sleep": 1}, expect]}


@pytest.mark.parametrize(
    ("target", "fault"),
    [
        ("triggerer", {"process": "trigger-runner"}),
        ("worker-2", {"kind": "kill", "process": "celery-pool-child", "signal": "TERM"}),
        ("host_of:r.t", {"kind": "kill", "process": "task-supervisor"}),
        ("triggerer", {"process": "serve-logs"}),
        ("api-server", {"cmdline": "uvicorn|api[-_]server"}),
    ],
)
def test_a_named_process_of_the_targets_role_validates(target, fault):
    data = _drill(target, **fault)
    if target.startswith("host_of:"):
        run = {"trigger": {"name": "r", "dag": "long_task"}}
        data["steps"].insert(0, run)
    from_data(data, "drill.yaml")


@pytest.mark.parametrize(
    ("target", "fault", "message"),
    [
        ("scheduler", {"process": "trigger-runner"}, "'trigger-runner' runs in triggerer nodes"),
        ("scheduler", {"process": "serve-logs"}, "'serve-logs' runs in worker nodes, triggerer"),
        ("triggerer", {"process": "task"}, "'task' runs in worker nodes, not in 'triggerer'"),
        ("scheduler", {"process": "kubelet"}, "'kubelet' runs in a Kubernetes node"),
        ("triggerer", {"process": "trigger-runner", "mode": "pause"}, "leave 'mode' out"),
        ("triggerer", {"process": "task", "cmdline": "x"}, "by 'process' or by 'cmdline'"),
        ("triggerer", {"cmdline": "("}, "cmdline: not a regular expression"),
        ("triggerer", {"process": "runner"}, "process: Input should be 'trigger-runner'"),
    ],
)
def test_a_process_the_target_does_not_run_is_refused_before_boot(target, fault, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        from_data(_drill(target, **fault), "drill.yaml")


def test_hang_by_command_line_and_a_process_already_stopped_is_left_to_its_own_fault(node):
    cluster = FakeCluster(node)
    supervisor = matching_pids(node, "task-supervisor")
    os.kill(supervisor[0], signal.SIGSTOP)  # another fault's: this hang must not resume it
    try:
        assert wait_stopped(supervisor) == []  # on a busy machine, /proc shows it a moment later
        hang = faults.Hang(cluster, "triggerer", cmdline="^airflow (serve-logs|supervisor)")
        hang.inject()
        logs = matching_pids(node, "serve-logs")
        assert hang.pids == logs  # the serve-logs process only: the supervisor was stopped
        assert sorted(stopped_pids(node)) == sorted(logs + supervisor)
        assert hang.heal()
        assert stopped_pids(node) == supervisor
    finally:
        os.kill(supervisor[0], signal.SIGCONT)
