"""The engine's Runner hands its jobs to collaborators: the run verbs forward to its DagRuns and
the upgrade verbs to its Upgrades (recorded as steps like any other), and every collaborator
reads the runner's runs afresh. No Docker."""

from __future__ import annotations

import pytest

from testbed import engine
from testbed.engine.dag_runs import DagRuns
from testbed.upgrade import procedure
from testbed.upgrade.runner import Upgrades
from tests.unit.test_hangproof import FakeCluster, FrozenAPI

UPGRADE_VERBS = ["upgrade", "migrate", "wait_node", "backup", "restore", "workload"]


def test_the_upgrade_verbs_are_runner_methods_named_like_the_upgrades():
    for verb in [*UPGRADE_VERBS, "stop_workload"]:
        assert callable(getattr(engine.Runner, verb)) and callable(getattr(Upgrades, verb))


def test_the_run_verbs_are_runner_methods_named_like_the_dag_runs_verbs(tmp_path):
    for verb in ["trigger", "wait"]:
        assert getattr(engine.Runner, verb).__doc__ == getattr(DagRuns, verb).__doc__
    runner = engine.Runner(FakeCluster(tmp_path), api=FrozenAPI(), probes=[])
    runner.runs = {}  # replaced: the run verbs read the runner's runs afresh
    assert runner.dag_runs._runs() is runner.runs


def test_backup_and_restore_forward_as_recorded_steps_and_restore_unsettles(tmp_path, monkeypatch):
    done: list[tuple[str, str]] = []
    monkeypatch.setattr(procedure, "backup", lambda cluster, name: done.append(("backup", name)))
    monkeypatch.setattr(procedure, "restore", lambda cluster, name: done.append(("restore", name)))
    cluster = FakeCluster(tmp_path)
    cluster.reusable = True
    runner = engine.Runner(cluster, api=FrozenAPI(), probes=[])
    runner.observations._settled.add(("d", "r1"))
    runner.backup("before")
    runner.restore("before")
    assert done == [("backup", "before"), ("restore", "before")]
    assert cluster.reusable is False
    assert runner.observations._settled == set()  # every run is read again after a restore
    steps = [(e["phase"], e["index"], e["action"]) for e in cluster.history.events("step")]
    assert steps == [
        ("start", 0, "backup"),
        ("end", 0, "backup"),
        ("start", 1, "restore"),
        ("end", 1, "restore"),
    ]


def test_a_replaced_runs_dict_is_what_the_fault_book_reads(tmp_path):
    runner = engine.Runner(FakeCluster(tmp_path), api=FrozenAPI(), probes=[])
    runner.runs = {}
    with pytest.raises(engine.StepFailed, match="run 'r' was not triggered"):
        runner.book.resolve("host_of:r.t", "kill")
