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
    assert _order(plan, "drain", "wait_idle", "worker-2") < _order(plan, "stop", "stop")
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
    with pytest.raises(UnknownVersion, match=why):
        plan_between(a, b, lambda v: pytest.fail(f"read {v}"))


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
    assert "2.10.5" not in catalog.IMAGE_VERSIONS  # no lock: its wheel is all there is
    with pytest.raises(ImageMissing, match="apache-airflow wheel"):
        versions.schema_info("2.10.5", allow_wheel=False)
