"""`testbed upgrade-plan 2.x 3.x`: Airflow's "Upgrading to Airflow 3" procedure as a plan, its
refusals, and where an Airflow 2 schema is read from (pure: heads passed in)."""

from __future__ import annotations

import pytest

from testbed.core.errors import ImageMissing
from testbed.images import catalog
from testbed.upgrade import versions
from testbed.upgrade.plan import make_plan, plan_between
from testbed.upgrade.versions import SchemaInfo, UnknownVersion

HEAD_2, HEAD_3 = "5f2621c13b39", "d2f4e1b3c5a7"


def _order(plan, phase: str, action: str, node: str | None = None) -> int:
    return next(
        i
        for i, s in enumerate(plan.steps)
        if (s.phase, s.action) == (phase, action) and (node is None or s.node == node)
    )


def test_two_to_three_is_a_downtime_window_in_the_guides_order():
    plan = make_plan("2.11.2", "3.3.2", HEAD_2, HEAD_3, migrations=96)
    assert plan.kind == "major" and not plan.live
    assert "96 migration(s)" in plan.summary
    first = plan.steps[0]
    assert (first.phase, first.action) == ("check", "preflight") and "AIR301" in first.detail
    # the workers drained before anything stops; the backup after every stop, before migrating
    assert _order(plan, "drain", "wait_idle", "worker-2") < _order(plan, "stop", "term")
    # the workers' drains overlap, and so do the stops: every TERM before the first wait
    assert _order(plan, "drain", "term", "worker-2") < _order(plan, "drain", "wait_idle")
    assert max(i for i, s in enumerate(plan.steps) if s.phase == "stop" and s.action == "term") < (
        _order(plan, "stop", "wait_exit")
    )
    last_stop = max(i for i, s in enumerate(plan.steps) if s.phase == "stop")
    assert last_stop < _order(plan, "backup", "pg_dump") < _order(plan, "migrate", "db_migrate")
    # the webserver stops and never starts again; the api-server starts in its place
    stopped = {s.node for s in plan.steps if s.phase == "stop"}
    started = {s.node for s in plan.steps if s.action == "start"}
    assert "webserver" in stopped and "webserver" not in started
    assert {"api-server", "dag-processor", "worker-1", "worker-2"} <= started
    assert _order(plan, "migrate", "db_migrate") < _order(plan, "start", "start", "api-server")
    assert plan.steps[-1].phase == "verify" and "XComs" in plan.steps[-1].detail


def test_a_three_to_three_plan_is_not_a_major_one():
    assert make_plan("3.3.1", "3.3.2", HEAD_3, HEAD_3).kind == "live"


@pytest.mark.parametrize(
    "a, b, why",
    [
        ("2.6.3", "3.3.2", "from 2.7 or later"),
        ("3.3.2", "2.11.2", "the way back to Airflow 2 is the backup"),
        ("2.10.5", "2.11.2", "unknown Airflow version '2.10.5'"),
    ],
)
def test_what_the_guide_does_not_plan_is_refused(a, b, why):
    with pytest.raises(UnknownVersion, match=why):  # back to 2.x: by the backup only
        plan_between(a, b, lambda v: pytest.fail(f"read {v}"), rollback="downgrade")


def test_back_to_airflow_2_restores_the_upgrades_backup_and_starts_a_webserver():
    infos = {
        "2.11.2": SchemaInfo("2.11.2", HEAD_2, ("base", HEAD_2), "image"),
        "3.3.2": SchemaInfo("3.3.2", HEAD_3, ("base", HEAD_2, "r1", HEAD_3), "image"),
    }
    nodes = ["api-server", "api-server-2", "scheduler", "dag-processor", "triggerer", "worker-1"]
    plan, _, _ = plan_between("3.3.2", "2.11.2", infos.__getitem__, nodes=nodes)
    assert plan.kind == "rollback" and "backup taken before the upgrade" in plan.summary
    acts = [(s.action, s.node) for s in plan.steps]
    # the 3.x database is kept under another name before the pre-upgrade one is restored
    assert acts.index(("pg_dump", "postgres")) < acts.index(("pg_restore", "postgres"))
    assert acts.index(("wait_idle", "worker-1")) < acts.index(("pg_dump", "postgres"))
    assert acts.index(("wait_exit", "api-server-2")) < acts.index(("pg_dump", "postgres"))
    assert ("retire", "api-server") in acts and ("retire", "api-server-2") in acts
    assert [n for a, n in acts if a == "start"] == [
        "webserver", "webserver-2", "scheduler", "dag-processor", "triggerer", "worker-1"
    ]  # fmt: skip
    assert acts[-1] == ("history", None)


def test_the_airflow_2_side_needs_no_image_and_counts_the_migrations_between():
    chain = ("base", HEAD_2, "r1", "r2", HEAD_3)
    infos = {
        "2.11.2": SchemaInfo("2.11.2", HEAD_2, ("base", HEAD_2), "wheel apache-airflow==2.11.2"),
        "3.3.2": SchemaInfo("3.3.2", HEAD_3, chain, "image"),
    }
    plan, a, b = plan_between("2.11.2", "3.3.2", infos.__getitem__)
    assert plan.kind == "major" and "3 migration(s)" in plan.summary
    assert (a.head, b.head) == (HEAD_2, HEAD_3)


def test_an_airflow_2_schema_with_no_image_comes_from_the_apache_airflow_wheel():
    assert versions.wheel_package("2.11.2") == "apache-airflow"
    assert versions.wheel_package("3.1.7") == "apache-airflow-core"
    assert "2.9.3" not in catalog.IMAGE_VERSIONS  # no lock: its wheel is all there is
    with pytest.raises(ImageMissing, match="apache-airflow wheel"):
        versions.schema_info("2.9.3", allow_wheel=False)


def test_on_a_running_airflow_2_cluster_each_webserver_is_retired_for_an_api_server():
    nodes = ["webserver", "webserver-2", "scheduler", "dag-processor", "triggerer", "worker-1",
             "scheduler-2"]  # fmt: skip
    plan = make_plan("2.11.2", "3.3.2", HEAD_2, HEAD_3, nodes=nodes)
    stopped = [s.node for s in plan.steps if s.action == "wait_exit"]
    assert stopped == [
        "webserver",
        "webserver-2",
        "scheduler",
        "scheduler-2",
        "dag-processor",
        "triggerer",
    ]  # fmt: skip: an added scheduler stops too, then starts on 3.x
    # reserialize where the DAG files are (it empties serialized_dag first)
    assert next(s.node for s in plan.steps if s.action == "reserialize") == "dag-processor"
    retired = [s.node for s in plan.steps if s.action == "retire"]
    assert retired == ["webserver", "webserver-2"]
    started = [s.node for s in plan.steps if s.action == "start"]
    assert started[:2] == ["api-server", "api-server-2"] and "webserver" not in started
    # retired after the migration, before any 3.x role starts; every 3.x role waited for
    assert _order(plan, "migrate", "db_migrate") < _order(plan, "start", "retire", "webserver")
    assert _order(plan, "start", "retire", "webserver-2") < _order(plan, "start", "start")
    ready = {s.node for s in plan.steps if s.action == "wait_ready"}
    assert ready == {"api-server", "api-server-2", "scheduler", "scheduler-2", "dag-processor",
                     "triggerer", "worker-1"}  # fmt: skip


def test_the_cluster_becomes_an_airflow_3_one_when_its_first_3x_role_starts():
    from types import SimpleNamespace

    from testbed.topology import Topology
    from testbed.upgrade import major_actions

    events = []
    cluster = SimpleNamespace(
        topology=Topology(airflow_version="2.11.2", workers=1, api_servers=2),
        history=SimpleNamespace(append=lambda kind, **f: events.append((kind, f))),
    )
    proc = SimpleNamespace(cluster=cluster, version="3.3.2")
    major_actions.switch_line(proc)
    assert cluster.topology.line == 3 and cluster.topology.airflow_version == "3.3.2"
    assert cluster.topology.api_server_names == ["api-server", "api-server-2"]
    assert cluster.topology.workers == 1  # nothing else of the topology changes
    major_actions.switch_line(proc)  # the next 3.x role: already switched
    assert events == [("topology", {"airflow_version": "3.3.2"})]


def test_an_upgrade_expected_refused_holds_only_when_that_check_refuses():
    from types import SimpleNamespace

    from testbed.core.errors import UpgradeFailed
    from testbed.upgrade.plan import Step
    from testbed.upgrade.runner import UpgradeStepFailed, _refused

    events = []

    def proc(fails_at):
        def run(plan):
            if fails_at:
                p.failed = Step("check", fails_at, None, "")
                raise UpgradeFailed(f"{fails_at}: legacy.py breaks")

        history = SimpleNamespace(append=lambda kind, **f: events.append((kind, f)))
        p = SimpleNamespace(run=run, failed=None, cluster=SimpleNamespace(history=history))
        return p

    _refused(proc("preflight"), None, "preflight")  # refused as expected: the step holds
    assert events == [("upgrade_refused", {"action": "preflight",
                                           "error": "preflight: legacy.py breaks"})]  # fmt: skip
    with pytest.raises(UpgradeFailed, match="db_migrate"):  # refused elsewhere: its own error
        _refused(proc("db_migrate"), None, "preflight")
    with pytest.raises(UpgradeStepFailed, match="went through"):
        _refused(proc(None), None, "preflight")
