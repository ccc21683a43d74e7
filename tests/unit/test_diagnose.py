"""Hang diagnostics without Docker: parsing, naming, formatting, and the capture's bound."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from testbed import diagnose
from testbed.backends.docker import DockerBackend
from testbed.core.history import History
from testbed.core.secrets import Secrets
from testbed.runtime import ExecResult
from testbed.topology import Topology

# What PS_SCRIPT printed in a scheduler node (shortened).
PS_OUTPUT = """\
      1       0 airflow  Ss        310 /sbin/docker-init -- airflow scheduler
      7       1 airflow  Sl        310 /opt/airflow/bin/python3 /opt/airflow/bin/airflow scheduler
     42       7 airflow  S         300 airflow scheduler -- DagFileProcessorManager
     43       7 airflow  Sl        300 /opt/airflow/bin/python3 /opt/airflow/bin/airflow serve-logs
    901       0 airflow  Rs          0 ps -eww -o pid=,ppid=,user=,stat=,etimes=,args=
@@exe
1 /usr/bin/docker-init
7 /usr/bin/python3.13
42 /usr/bin/python3.13
43 /usr/bin/python3.13
901 /usr/bin/ps
902
"""


def test_parse_processes_reads_ps_and_exe():
    procs = diagnose.parse_processes(PS_OUTPUT)
    assert [p.pid for p in procs] == [1, 7, 42, 43, 901]
    main = procs[1]
    assert (main.ppid, main.user, main.stat, main.etimes) == (1, "airflow", "Sl", 310)
    assert main.args == "/opt/airflow/bin/python3 /opt/airflow/bin/airflow scheduler"
    assert main.exe == "/usr/bin/python3.13"


def test_python_processes_are_found_by_executable_even_when_renamed():
    procs = diagnose.python_processes(diagnose.parse_processes(PS_OUTPUT))
    # 42 renamed itself (setproctitle) but its executable is Python; oldest first
    assert [p.pid for p in procs] == [7, 42, 43]


def test_python_processes_fall_back_on_the_command_line_without_exe():
    procs = diagnose.parse_processes(PS_OUTPUT.split("@@exe")[0])
    assert [p.pid for p in diagnose.python_processes(procs)] == [7, 43]
    other = diagnose.Proc(5, 1, "root", "S", 9, "/opt/airflow/bin/python3 x")
    assert diagnose.python_processes([other]) == []  # py-spy as airflow cannot read root's


def test_next_folder_numbers_per_node(tmp_path: Path):
    a = diagnose.next_folder(tmp_path, "scheduler")
    b = diagnose.next_folder(tmp_path, "scheduler")
    w = diagnose.next_folder(tmp_path, "worker-1")
    s2 = diagnose.next_folder(tmp_path, "scheduler-2")
    names = [p.name for p in (a, b, w, s2)]
    assert names == ["scheduler-1", "scheduler-2", "worker-1-1", "scheduler-2-1"]
    assert all(p.is_dir() and p.parent == tmp_path / "diagnostics" for p in (a, b, w, s2))


def test_format_table_aligns_and_shows_null():
    text = diagnose.format_table(
        ["pid", "state", "query"], [(1, None, "select 1"), (22, "idle", "")]
    )
    assert text.splitlines() == ["pid  state  query", "1    -      select 1", "22   idle"]


def test_redact_replaces_secret_values():
    assert diagnose.redact("redis://:s3cr3tvalue@toxiproxy", ["s3cr3tvalue", ""]) == (
        "redis://:***@toxiproxy"
    )


def test_pick_celery_node_prefers_a_running_worker_other_than_the_target():
    states = {"scheduler": "running", "worker-1": "paused", "worker-2": "running"}
    assert diagnose.pick_celery_node(states, "scheduler") == "worker-2"
    both = {"worker-1": "running", "worker-2": "running"}
    assert diagnose.pick_celery_node(both, "worker-1") == "worker-2"
    assert diagnose.pick_celery_node({"worker-1": "paused"}, "worker-1") is None


# -- the capture's orchestration, with Docker and Postgres faked ----------------------------


class FakeCluster:
    def __init__(self, folder: Path) -> None:
        self.nodes = {"scheduler": "c-scheduler", "worker-1": "c-worker-1"}
        self.history = History(folder / "history.jsonl")
        self.secrets = Secrets.generate()
        self.dir = folder
        self.backend = DockerBackend()  # its calls reach the faked runtime below
        self.topology = Topology(1)  # Docker: no pods

    def container(self, node: str) -> str:
        return self.nodes[node]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    cluster = FakeCluster(tmp_path)
    states = {"c-scheduler": "running", "c-worker-1": "running"}
    hang = threading.Event()  # set: py-spy and Postgres never answer (until the test ends)
    cluster.ps_output = PS_OUTPUT
    cluster.commands = []

    def exec_run(container, cmd, *, timeout, user=None, node=None):
        cluster.commands.append(cmd)
        if cmd[0] == "sh" and "ps -eww" in cmd[2]:
            return ExecResult(0, cluster.ps_output)
        if cmd[0] == "py-spy":
            if hang.is_set():
                time.sleep(timeout)
                raise diagnose.ExecTimeout(node, cmd, timeout)
            return ExecResult(0, f'Thread 0x1 (idle): "MainThread"\n    loop (x.py:1)\n{cmd}')
        if cmd[0] == "sh" and "inspect" in cmd[2]:
            return ExecResult(
                0, f"-> celery@worker-1: OK\n    - empty - {cluster.secrets.pg_password}"
            )
        raise AssertionError(cmd)

    class Conn:
        def __enter__(self):
            if hang.is_set():
                time.sleep(60)
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql):
            class Cur:
                description = [type("D", (), {"name": "pid"})()]

                def fetchall(self):
                    return [(123,)]

            return Cur()

    monkeypatch.setattr(diagnose.runtime, "exec_run", exec_run)
    monkeypatch.setattr(diagnose.runtime, "state", lambda c: states[c])
    monkeypatch.setattr(diagnose.runtime, "logs_tail", lambda c, n: ["line 1", "line 2"])
    monkeypatch.setattr(diagnose.postgres, "connect", lambda cl, timeout: Conn())
    return cluster, states, hang


def test_capture_writes_every_part(fake, tmp_path):
    cluster, _, _ = fake
    summary = diagnose.capture(cluster, "scheduler", "test", tmp_path, timeout=5)
    assert summary["parts"] == {
        "stacks": "ok",
        "database": "ok",
        "celery_active": "ok",
        "celery_reserved": "ok",
        "logs": "ok",
    }
    assert summary["path"] == "diagnostics/scheduler-1" and summary["state"] == "running"
    out = tmp_path / summary["path"]
    stacks = (out / "stacks.txt").read_text()
    assert stacks.count("===== pid") == 3 and "--native" in stacks
    assert "pid" in (out / "pg_stat_activity.txt").read_text()
    assert "***" in (out / "celery_active.txt").read_text()  # the secret was redacted
    assert cluster.secrets.pg_password not in (out / "celery_active.txt").read_text()
    assert json.loads((out / "summary.json").read_text()) == summary
    assert cluster.history.events("diagnostics")[0]["path"] == summary["path"]


def test_capture_is_bounded_when_parts_hang(fake, tmp_path):
    cluster, _, hang = fake
    hang.set()
    t0 = time.monotonic()
    summary = diagnose.capture(cluster, "scheduler", "test", tmp_path, timeout=2)
    assert time.monotonic() - t0 < 2 + diagnose.GRACE + 0.5
    assert summary["parts"]["stacks"] == "timeout"
    assert summary["parts"]["database"] == "timeout"
    assert summary["parts"]["logs"] == "ok"
    stacks = (tmp_path / summary["path"] / "stacks.txt").read_text()
    assert "# part stacks: timeout" in stacks  # what it got so far, and that it ran out


def test_capture_of_a_paused_node_still_reads_the_database(fake, tmp_path):
    cluster, states, _ = fake
    states["c-scheduler"] = "paused"
    summary = diagnose.capture(cluster, "scheduler", "test", tmp_path, timeout=5)
    assert summary["state"] == "paused"
    assert (
        summary["parts"]["stacks"].startswith("error:") and "paused" in summary["parts"]["stacks"]
    )
    assert summary["parts"]["database"] == "ok" and summary["parts"]["logs"] == "ok"


def test_a_stopped_process_is_read_without_suspending_it(fake, tmp_path):
    cluster, _, _ = fake
    cluster.ps_output = PS_OUTPUT.replace("7       1 airflow  Sl", "7       1 airflow  T ")
    summary = diagnose.capture(cluster, "scheduler", "test", tmp_path, timeout=5)
    assert summary["parts"]["stacks"] == "ok"
    dumps = [c for c in cluster.commands if c[0] == "py-spy"]
    assert ["py-spy", "dump", "--pid", "7", "--nonblocking"] in dumps
    assert ["py-spy", "dump", "--pid", "42", "--native"] in dumps
    assert "stopped" in (tmp_path / summary["path"] / "stacks.txt").read_text()


def test_celery_inspect_names_docker_workers_and_asks_every_worker_pod():
    docker = diagnose.inspect_command("active", ["worker-1", "worker-2"], pods=False)
    assert docker.endswith("inspect active -t 4 -d celery@worker-1,celery@worker-2")
    # a worker pod answers to its pod's name, which only the Kubernetes API knows
    pods = diagnose.inspect_command("reserved", ["worker-1"], pods=True)
    assert pods.endswith("inspect reserved -t 4") and "-d" not in pods.split()
