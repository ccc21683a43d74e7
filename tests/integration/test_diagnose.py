"""Hang diagnostics on a real cluster: real stacks of the scheduler, real database sessions,
and a bounded capture of a frozen (docker pause) node."""

from __future__ import annotations

import time

import pytest

from testbed import diagnose, faults, runtime

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]

BOUND = 20


def test_capture_shows_the_schedulers_python_stacks_and_the_db_sessions(testbed_cluster, tmp_path):
    c = testbed_cluster
    t0 = time.monotonic()
    summary = diagnose.capture(c, "scheduler", "integration test", tmp_path, timeout=BOUND)
    assert time.monotonic() - t0 < BOUND + 3
    assert summary["state"] == "running"
    assert summary["parts"]["stacks"] == "ok", summary
    assert summary["parts"]["database"] == "ok", summary
    out = tmp_path / summary["path"]
    stacks = (out / "stacks.txt").read_text()
    # real frames of the scheduler's loop, from the scheduler's own process
    assert "scheduler_job_runner.py" in stacks, stacks[:3000]
    assert "_run_scheduler_loop" in stacks, stacks[:3000]
    activity = (out / "pg_stat_activity.txt").read_text().splitlines()
    assert activity[0].startswith("pid") and "wait_event" in activity[0]
    assert len(activity) > 3  # every Airflow component holds sessions
    assert "client backend" in "\n".join(activity)
    assert (out / "pg_locks.txt").read_text().startswith("pid")
    assert summary["parts"]["celery_active"] == "ok", summary
    assert "celery@worker-" in (out / "celery_active.txt").read_text()
    assert len((out / "logs.txt").read_text().splitlines()) > 10
    assert c.history.events("diagnostics")[-1]["path"] == summary["path"]


def test_capture_of_a_paused_scheduler_is_bounded_and_still_reads_the_db(testbed_cluster, tmp_path):
    c = testbed_cluster
    with faults.Hang(c, "scheduler", mode="pause"):
        assert runtime.state(c.container("scheduler")) == "paused"
        t0 = time.monotonic()
        summary = diagnose.capture(c, "scheduler", "paused", tmp_path, timeout=BOUND)
        took = time.monotonic() - t0
    assert took < BOUND + 3, took
    assert summary["state"] == "paused"
    assert (
        summary["parts"]["stacks"].startswith("error:") and "paused" in summary["parts"]["stacks"]
    )
    assert summary["parts"]["database"] == "ok", summary
    assert summary["parts"]["logs"] == "ok", summary
    assert (tmp_path / summary["path"] / "pg_stat_activity.txt").read_text().startswith("pid")
