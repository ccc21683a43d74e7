"""A migration that failed midway (``upgrade: {refused_by: db_migrate}``): the fault must have
left the schema strictly between the two heads, the ``schema`` condition that times the fault
holds only once the schema left the old head, and the scenario rules say where it applies. No
Docker: the revisions are a list, the database reads are scripted."""

from __future__ import annotations

import contextlib
import re

import pytest

from testbed.core.errors import ScenarioError, UpgradeFailed
from testbed.engine import when
from testbed.scenario.load import from_data
from testbed.scenario.when import SchemaCondition
from testbed.upgrade.recover import half_migrated

CHAIN = ["a0", "h2", "r1", "r2", "r3", "h3", "later"]  # h2: 2.x's head, h3: 3.x's


@pytest.mark.parametrize(("revision", "applied"), [("r1", 1), ("r2", 2), ("r3", 3)])
def test_a_schema_between_the_heads_is_half_migrated(revision, applied):
    assert half_migrated(revision, CHAIN, "h2", "h3") == applied


@pytest.mark.parametrize(
    ("revision", "why"),
    [
        ("h2", "the old head: the migration had not begun"),
        ("h3", "the new head: the migration had finished"),
        ("later", "off the migration's path"),
        (None, "off the migration's path"),
    ],
)
def test_a_fault_that_missed_the_window_fails_the_step(revision, why):
    with pytest.raises(UpgradeFailed, match=why):
        half_migrated(revision, CHAIN, "h2", "h3")


def test_heads_off_the_chain_fail_the_step():
    with pytest.raises(UpgradeFailed, match="not on the new version's chain"):
        half_migrated("r1", CHAIN, "h1", "h3")


def _schema_left(monkeypatch, reads: list[list[tuple]]):
    from types import SimpleNamespace

    import testbed.upgrade.versions as versions

    monkeypatch.setattr(versions, "schema_info", lambda v: SimpleNamespace(head="h2"))
    seq = iter(reads)
    monkeypatch.setattr(when.postgres, "query", lambda *a, **k: next(seq))
    return when.SchemaLeft(object(), SchemaCondition(left="2.11.2"))


def test_the_schema_condition_holds_once_the_old_head_is_left(monkeypatch):
    check = _schema_left(monkeypatch, [[("h2",)], [], [("r1",)]])
    assert check() is None  # still at the old head
    assert check() is None  # no revision (a restore under way): not "left"
    assert check() == {"revision": "r1"}


def _drill(steps: list[dict], topology: dict | None = None) -> dict:
    steps = [*steps, {"expect": {"check": "no_task_lost"}}]
    return {"name": "d", "topology": topology or {"airflow_version": "2.11.2"}, "steps": steps}


KILL_MIGRATE = {"fault": {"name": "k", "kind": "kill", "target": "migrate"}}


def test_the_upgrades_migrator_is_a_target_only_for_a_schema_condition():
    timed = {"fault": {**KILL_MIGRATE["fault"], "when": {"schema": {"left": "2.11.2"}}}}
    up = {"upgrade": {"to": "3.3.2", "refused_by": "db_migrate"}}
    assert from_data(_drill([timed, up]), "d.yaml").steps[1].refused_by == "db_migrate"
    with pytest.raises(ScenarioError, match="unknown node 'migrate'"):
        from_data(_drill([KILL_MIGRATE, up]), "d.yaml")


@pytest.mark.parametrize(
    ("topology", "to", "message"),
    [
        ({"airflow_version": "3.3.2"}, "3.2.2", "on the way up; this step goes from 3.3.2"),
        ({"airflow_version": "3.2.2", "backend": "kubernetes", "executor": "KubernetesExecutor"},
         "3.3.2", "on Kubernetes"),
    ],
)  # fmt: skip
def test_a_migration_failure_is_expected_only_where_it_is_recovered_from(topology, to, message):
    up = {"upgrade": {"to": to, "refused_by": "db_migrate"}}
    with pytest.raises(ScenarioError, match=message):
        from_data(_drill([up], topology), "d.yaml")


@pytest.mark.parametrize(
    ("topology", "step", "message"),
    [
        ({"airflow_version": "3.3.2"}, {"seed_history": {"dag": "smoke", "runs": 5}},
         "seed_history writes Airflow 2's rows (Docker); here: Airflow 3.3.2"),
        ({"airflow_version": "2.11.2"}, {"seed_history": {"dag": "nope", "runs": 5}},
         "unknown DAG 'nope'"),
        ({"airflow_version": "2.11.2"}, {"seed_history": {"dag": "smoke", "runs": 0}},
         "greater than or equal to 1"),
        ({"airflow_version": "3.2.2"}, {"upgrade": {"to": "3.3.2", "db_clean": "1h"}},
         "db_clean: `airflow db clean` before the migration is a step of an Airflow 2 -> 3"),
    ],
)  # fmt: skip
def test_a_seeded_history_and_db_clean_belong_to_airflow_2(topology, step, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        from_data(_drill([step], topology), "d.yaml")


def test_a_seeded_history_then_a_cleaned_upgrade_validates():
    steps = [{"seed_history": {"dag": "smoke", "runs": 5, "age": "1h"}},
             {"upgrade": {"to": "3.3.2", "db_clean": "2160h"}}]  # fmt: skip
    s = from_data(_drill(steps), "d.yaml")
    assert (s.steps[0].age, s.steps[1].db_clean) == (3600.0, 2160 * 3600.0)


UP_3 = {"upgrade": {"to": "3.3.2"}}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([UP_3, {"upgrade": {"to": "3.3.1"}}, {"upgrade": {"to": "2.11.2"}}],
         "no earlier step of this scenario made one"),  # 3.3.1's backup took the name
        ([UP_3, {"upgrade": {"to": "2.11.2", "rollback": "downgrade"}}], "`rollback: restore`"),
        ([UP_3, {"upgrade": {"to": "2.11.2", "nodes": ["scheduler"]}}], "never live"),
        ([{"fault": {"name": "k", "kind": "kill", "target": "migrate",
                     "when": {"schema": {"left": "3.3.2"}}}}, UP_3],
         "a migration leaves 2.11.2's head, not 3.3.2's"),
        ([{"fault": {"name": "k", "kind": "restart", "target": "migrate",
                     "when": {"schema": {"left": "2.11.2"}}}}, UP_3],
         "the migrator takes kill or stop faults"),
        ([{"fault": {"name": "k", "kind": "hang", "target": "migrate",
                     "when": {"schema": {"left": "2.11.2"}}}}, UP_3],
         "the migrator takes kill or stop faults"),
        ([{"upgrade": {"to": "2.10.5"}}], "upgrades between Airflow 2 releases are not built"),
        ([{"seed_history": {"dag": "smoke", "runs": 5}},
          {"seed_history": {"dag": "smoke", "runs": 5, "age": "720h"}}],
         "smoke's history is seeded by an earlier step"),
        ([{"expect": {"check": "healthy", "probe": "scheduler_health"}}],
         "an Airflow 2.11.2 scheduler runs no health server here"),
        ([{"expect": {"check": "probe_answered", "step": "upgrade"}}],
         "runs no health server here"),
    ],
)  # fmt: skip
def test_what_airflow_2_cannot_do_is_refused_before_boot(steps, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        from_data(_drill(steps), "d.yaml")


def test_back_to_2_needs_the_backup_of_a_2_to_3_step():
    with pytest.raises(ScenarioError, match="no earlier step of this scenario made one"):
        from_data(_drill([{"upgrade": {"to": "2.11.2"}}], {"airflow_version": "3.3.2"}), "d.yaml")


def test_back_to_2_after_the_upgrade_and_its_nodes():
    running = {"check": "process_running", "node": "webserver", "cmdline": "x"}
    steps = [UP_3, {"upgrade": {"to": "2.11.2"}}, {"expect": running}]
    assert from_data(_drill(steps), "d.yaml").steps[1].to == "2.11.2"
    steps[-1] = {"expect": {"check": "process_running", "node": "api-server", "cmdline": "x"}}
    with pytest.raises(ScenarioError, match="unknown node 'api-server'"):
        from_data(_drill(steps), "d.yaml")


def test_the_downtime_window_ends_at_the_last_readiness_and_counts_the_migration_only():
    from types import SimpleNamespace

    from testbed.upgrade.procedure import Procedure

    events = []
    history = SimpleNamespace(append=lambda kind, **f: events.append((kind, f)))
    proc = Procedure(SimpleNamespace(history=history), "3.3.2", None)  # type: ignore[arg-type]
    proc.record_window("done")  # a live roll: nothing opened
    proc.down_since, proc.up_at = 100.0, 130.5
    proc.timings = {"2:db_clean:scheduler": 9.0, "9:db_migrate:migrate": 3.25}
    proc.record_window("done")
    assert events == [("upgrade_window", {"outcome": "done", "downtime_s": 30.5,
                                          "migration_s": 3.25})]  # fmt: skip
    events.clear()  # on Kubernetes the migration is a Job
    proc.timings = {"3:pg_dump:postgres": 1.0, "6:migration_job:run-airflow-migrations": 7.5}
    proc.record_window("done")
    assert events[0][1]["migration_s"] == 7.5


class _Cluster:
    """What recover() touches: its calls in order, its topology swapped by switch_line."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        from testbed.topology import Topology

        self.calls: list[tuple] = []
        self.topology = Topology(airflow_version="3.3.2")  # switched at the migration
        self.history = SimpleNamespace(append=lambda kind, **f: self.calls.append((kind, f)))

    def remove_node(self, node):
        self.calls.append(("remove", node))

    def replace_node(self, node, wait=True):
        self.calls.append(("replace", node, wait))

    def wait_node(self, node, timeout):
        self.calls.append(("wait", node))


def _recovering(monkeypatch, revision: str):
    from types import SimpleNamespace

    from testbed.upgrade import recover as R

    cluster = _Cluster()
    monkeypatch.setattr(R.uobs, "schema", lambda c: {"value": {"revision": revision}})
    monkeypatch.setattr(R, "schema_info", lambda v: SimpleNamespace(revisions=CHAIN))
    monkeypatch.setattr(R, "restore", lambda c, name: c.calls.append(("restore", name)))
    monkeypatch.setattr(R, "airflow_nodes", lambda c: ["webserver", "scheduler"])
    plan = SimpleNamespace(kind="major", from_version="2.11.2", to_version="3.3.2",
                           from_head="h2", to_head="h3")  # fmt: skip
    window = lambda outcome: cluster.calls.append(("window", outcome))  # noqa: E731
    proc = SimpleNamespace(cluster=cluster, plan=plan, version="3.3.2", ready_timeout=5,
                           record_window=window, planned=_Planned(cluster.calls))  # fmt: skip
    return R, proc, cluster


class _Planned:
    """Procedure.planned: a node's window, its opening and closing recorded."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    @contextlib.contextmanager
    def __call__(self, node):
        self.calls.append(("planned", node))
        yield
        self.calls.append(("planned_end", node))


def test_a_failed_migration_is_recovered_from_the_backup_on_the_old_version(monkeypatch):
    R, proc, cluster = _recovering(monkeypatch, "r2")
    R.recover(proc)
    acts = [c for c in cluster.calls if c[0] != "topology"]
    assert acts[:2] == [("remove", "migrate"), ("restore", "upgrade")]  # the migrator first
    assert acts[2:4] == [("planned", "webserver"), ("planned", "scheduler")]  # windows open
    assert acts[4:8] == [("replace", "webserver", False), ("replace", "scheduler", False),
                         ("wait", "webserver"), ("wait", "scheduler")]  # fmt: skip
    assert sorted(acts[8:10]) == [("planned_end", "scheduler"), ("planned_end", "webserver")]
    assert ("window", "recovered") in acts
    assert cluster.topology.line == 2 and cluster.topology.airflow_version == "2.11.2"
    (done,) = [f for kind, *f in cluster.calls if kind == "upgrade_recovered"]
    assert done[0]["steps_applied"] == 2 and done[0]["backup"] == "upgrade"


def test_a_migration_that_had_finished_is_not_restored(monkeypatch):
    R, proc, cluster = _recovering(monkeypatch, "h3")
    with pytest.raises(UpgradeFailed, match="the migration had finished"):
        R.recover(proc)
    assert cluster.calls == []  # nothing removed, restored or started
