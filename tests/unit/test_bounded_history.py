"""A long run's runner stays bounded: an unchanged task-instance read is not recorded again
(until a keep-alive), settled runs are not read again, a log is looked for with one listing
per run and never again once confirmed, checks look events up by kind. No Docker: the
database and MinIO are replaced by fakes that count what they are asked."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from testbed import airflow_config as AC
from testbed import engine, logwatch, observe
from testbed.checks import View
from testbed.checks.tasks import NoLossParams, no_task_lost
from testbed.core.history import History
from testbed.engine import execute as X
from testbed.scenario import model as M


class FakeCluster:
    def __init__(self, folder: Path) -> None:
        self.run_id = f"unit-{time.monotonic_ns()}"
        self.history = History(folder / "history.jsonl")
        self.nodes: dict = {}


def row(task: str, state: str | None, try_number: int = 1, run_id: str = "r1") -> tuple:
    return ("d", run_id, task, -1, try_number, state, 7, "worker-1", 2, 1795700000.0, None)


@pytest.fixture
def db(monkeypatch):
    """The metadata DB's task-instance rows per run_id; counts the reads."""
    rows: dict[str, list[tuple]] = {}
    reads: list[str] = []

    def query(cluster, sql, params=(), **kw):
        reads.append(params[1])
        return list(rows.get(params[1], []))

    monkeypatch.setattr(observe.tasks.postgres, "query", query)
    return rows, reads


def ti_events(history: History) -> list[dict]:
    return [e for e in history.events("observation") if e["probe"] == "task_instance"]


def test_unchanged_read_is_not_recorded_until_keepalive(tmp_path, db, monkeypatch):
    rows, _ = db
    cluster = FakeCluster(tmp_path)
    rows["r1"] = [row("a", "running"), row("b", None)]
    for _ in range(5):
        observe.task_instances(cluster, "d", "r1")
    assert len(ti_events(cluster.history)) == 2  # one round of two rows
    rows["r1"] = [row("a", "success"), row("b", "queued")]
    got = observe.task_instances(cluster, "d", "r1")
    assert [g["value"]["state"] for g in got] == ["success", "queued"]
    assert len(ti_events(cluster.history)) == 4  # the change is recorded when first read
    monkeypatch.setattr(observe.tasks, "KEEPALIVE", 0.0)
    observe.task_instances(cluster, "d", "r1")
    assert len(ti_events(cluster.history)) == 6  # unchanged, but the keep-alive is due


def test_unrecorded_read_still_returns_rows(tmp_path, db):
    rows, _ = db
    cluster = FakeCluster(tmp_path)
    rows["r1"] = [row("a", "running")]
    observe.task_instances(cluster, "d", "r1")
    again = observe.task_instances(cluster, "d", "r1")
    assert again[0]["value"]["state"] == "running"


def test_task_state_is_visible_in_a_window_without_reads(tmp_path):
    """A ``during`` window that starts after the last recorded read still sees the state."""
    h = History(tmp_path / "h.jsonl")
    h.append("trigger", name="r", dag_id="d", run_id="r1")
    h.append("observation", probe="task_instance", target="d", round=1,
             value=dict(zip(observe.TI_KEYS, row("a", "success"), strict=True)))  # fmt: skip
    since = time.monotonic() + 1
    result = no_task_lost(View(h.snapshot(), since=since), NoLossParams())
    assert result.ok, result.detail
    assert View(h.snapshot(), since=since).observations("task_instance") == []


def test_settled_runs_are_not_read_again(tmp_path, db):
    rows, reads = db
    cluster = FakeCluster(tmp_path)
    runner = engine.Runner(cluster, api=object(), probes=[])
    runner.runs = {"one": ("d", "r1"), "two": ("d", "r2")}
    rows["r1"] = [row("a", "success"), row("b", "failed", 3)]
    rows["r2"] = [row("a", "success"), row("b", "up_for_retry", 2, "r2")]
    runner.observations.observe_runs()
    runner.observations.observe_runs()
    assert reads.count("r1") == 1  # settled after the first read
    assert reads.count("r2") == 2  # up_for_retry is not an end


def test_settled_run_hands_its_attempts_to_the_log_watch(tmp_path, db):
    rows, _ = db
    cluster = FakeCluster(tmp_path)
    runner = engine.Runner(cluster, api=object(), probes=[])
    runner.watch_logs = True
    runner.runs = {"one": ("d", "r1")}
    rows["r1"] = [row("a", "success"), row("b", "failed", 3), row("c", "skipped")]
    runner.observations.observe_runs()
    due = [a for _, _, attempts in runner.logs._due.values() for a in attempts]
    assert sorted(due) == [
        ("d", "r1", "a", 1, -1),
        ("d", "r1", "b", 1, -1),
        ("d", "r1", "b", 2, -1),
        ("d", "r1", "b", 3, -1),
    ]


class FakeStore:
    """MinIO's listing and the API's log text, counting the calls."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.listings: list[str] = []
        self.api_reads = 0

    def api_text(self, dag_id, run_id, task, try_number, idx) -> str:
        self.api_reads += 1
        key = AC.log_key(dag_id, run_id, task, try_number, idx)
        return f"reading s3://{AC.LOG_BUCKET}/{key}" if key in self.keys else ""

    def list(self, prefix: str) -> set[str]:
        self.listings.append(prefix)
        return {k for k in self.keys if k.startswith(prefix)}


def watch(tmp_path, store: FakeStore) -> tuple[logwatch.LogWatch, FakeCluster]:
    cluster = FakeCluster(tmp_path)
    w = logwatch.LogWatch(cluster, store.api_text)
    w._list = store.list  # type: ignore[method-assign]
    return w, cluster


ATTEMPTS = [("d", "r1", "a", 1, -1), ("d", "r1", "a", 2, -1), ("d", "r2", "m", 1, 0)]


def test_one_listing_per_run_and_confirmed_logs_never_looked_for_again(tmp_path):
    store = FakeStore()
    store.keys = {AC.log_key(*a[:4], a[4]) for a in ATTEMPTS[:2]}
    w, cluster = watch(tmp_path, store)
    left = w.observe(ATTEMPTS)
    assert left == [ATTEMPTS[2]]  # r2's mapped attempt is not in the store
    assert len(store.listings) == 2 and store.api_reads == 2
    store.keys.add(AC.log_key("d", "r2", "m", 1, 0))
    assert w.observe(ATTEMPTS) == []
    assert store.listings[-1] == "logs/dag_id=d/run_id=r2/"  # r1 was confirmed: not listed
    assert store.api_reads == 3
    obs = [e["value"] for e in cluster.history.events("observation")]
    assert [(v["task_id"], v["present"]) for v in obs] == [
        ("a", True),
        ("a", True),
        ("m", False),
        ("m", True),
    ]


def test_background_waits_for_the_upload_grace_and_retries_missing(tmp_path, monkeypatch):
    store = FakeStore()
    w, _ = watch(tmp_path, store)
    w.settled(ATTEMPTS[:1])
    w.background()
    assert store.listings == []  # too early: the upload may still be under way
    monkeypatch.setattr(logwatch, "UPLOAD_GRACE", 0.0)
    monkeypatch.setattr(logwatch, "RECHECK", 0.0)
    w, _ = watch(tmp_path, store)
    w.settled(ATTEMPTS[:1])
    w.background()
    assert len(store.listings) == 1  # looked, missing: queued again
    store.keys.add(AC.log_key("d", "r1", "a", 1))
    w.background()
    w.background()
    assert len(store.listings) == 2 and not w._due  # found, then nothing left to do


def test_a_listing_with_no_answer_is_an_observation(tmp_path):
    store = FakeStore()
    w, cluster = watch(tmp_path, store)

    def broken(prefix):
        raise TimeoutError("no answer")

    w._list = broken  # type: ignore[method-assign]
    assert w.observe(ATTEMPTS[:1]) == ATTEMPTS[:1]
    (obs,) = cluster.history.events("observation")
    assert obs["value"] is None and obs["error"] == "timeout"


def test_past_the_deadline_nothing_new_starts(tmp_path):
    store = FakeStore()
    w, _ = watch(tmp_path, store)
    assert w.observe(ATTEMPTS, deadline=time.monotonic() - 1) == ATTEMPTS
    assert store.listings == []


def test_a_scenario_checking_every_log_is_watched():
    def scenario(**expect) -> M.Scenario:
        return M.Scenario.model_validate(
            {
                "name": "s",
                "steps": [
                    {"action": "trigger", "name": "r", "dag": "many_tasks"},
                    {"action": "expect", **expect},
                ],
            }  # fmt: skip
        )

    assert X.wants_every_log(scenario(check="remote_logs_all"))
    assert not X.wants_every_log(scenario(check="remote_logs_all", run="r"))
    assert not X.wants_every_log(scenario(check="no_task_lost"))


def test_view_indexes_by_kind(tmp_path):
    h = History(tmp_path / "h.jsonl")
    for i in range(3):
        h.append("fault", name=f"f{i}", phase="inject")
        h.append("observation", probe="api_health", target="api-server", value=i)
    v = View(h.snapshot())
    assert [e["name"] for e in v.of("fault")] == ["f0", "f1", "f2"]
    assert [e["value"] for e in v.observations("api_health")] == [0, 1, 2]
    assert v.of("nothing") == [] and v.fault("f1")["name"] == "f1"


def test_periodic_observations_are_kept_in_memory_for_the_retention_only(tmp_path, monkeypatch):
    from testbed.core import history

    monkeypatch.setattr(history, "PRUNE_EVERY", 10)
    h = History(tmp_path / "h.jsonl")
    h.retain({"api_health"}, 5.0)
    clock = [1000.0]
    monkeypatch.setattr(history.time, "monotonic", lambda: clock[0])
    h.append("trigger", name="r", dag_id="d", run_id="r1")
    for i in range(30):  # one a second: the first ones fall out of the 5 s retention
        clock[0] += 1
        h.append("observation", probe="api_health", target="api-server", value=i)
        h.append("observation", probe="task_instance", target="d", value={"i": i})
    kept = [e["value"] for e in h.snapshot() if e.get("probe") == "api_health"]
    assert kept and kept[0] >= 30 - 5 - 10 and kept[-1] == 29  # pruned every 10 appends
    assert len([e for e in h.snapshot() if e.get("probe") == "task_instance"]) == 30
    assert h.snapshot()[0]["kind"] == "trigger"  # other events are never dropped
    assert len(history.load(h.path)) == 61  # the file keeps every event


def test_retention_is_twice_the_longest_window_at_least_the_minimum():
    def scenario(**expect) -> M.Scenario:
        return M.Scenario.model_validate(
            {"name": "s", "steps": [{"action": "expect", "check": "healthy", **expect}]}
        )

    assert X.retention(scenario(within=30)) == X.MIN_RETENTION
    assert X.retention(scenario(during=3600)) == 7200
    # a check over the whole history of a probe: nothing of it leaves memory
    stable = {"check": "health_stable", "probe": "scheduler_health"}
    assert X.retention(scenario(**stable)) == float("inf")
    assert X.retention(scenario(**stable, during=60)) == X.MIN_RETENTION


def test_a_log_that_never_comes_is_looked_for_a_bounded_number_of_times(tmp_path, monkeypatch):
    monkeypatch.setattr(logwatch, "UPLOAD_GRACE", 0.0)
    monkeypatch.setattr(logwatch, "RECHECK", 0.0)
    store = FakeStore()
    w, cluster = watch(tmp_path, store)
    w.settled(ATTEMPTS[:1])
    for _ in range(20):
        w.background()
    assert len(store.listings) == 1 + logwatch.RECHECKS
    assert len(cluster.history.events("observation")) == 1  # the same "missing" once


def test_a_confirmed_log_is_not_undone_by_a_later_missing_read(tmp_path):
    """Two looks overlapped and the stale "missing" was written last: still confirmed."""
    h = History(tmp_path / "h.jsonl")
    h.append("trigger", name="r", dag_id="d", run_id="r1")
    h.append("observation", probe="task_instance", target="d", round=1,
             value=dict(zip(observe.TI_KEYS, row("a", "success"), strict=True)))  # fmt: skip
    base = {"dag_id": "d", "run_id": "r1", "task_id": "a", "try_number": 1, "map_index": -1}
    for present in (True, False):
        value = {**base, "key": "k", "present": present, "api_readable": present}
        h.append("observation", probe="remote_log", target="minio", value=value)
    from testbed.checks.logs import AllLogsParams, remote_logs_all

    result = remote_logs_all(View(h.snapshot()), AllLogsParams(run="r"))
    assert result.ok, result.detail
