"""Upgrade groundwork without Docker: migration files parsed, the head cache, the guide's plan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from testbed.core.errors import ImageMissing
from testbed.upgrade import versions as V
from testbed.upgrade.plan import make_plan, plan_between, role

# The heads each release's migrations end at (measured; see the upgrades page of the docs).
H317, H318, H322, H332 = "cc92b33c6709", "509b94a1042d", "1d6611b6ab7c", "d2f4e1b3c5a7"


def migration(rev: str, down, extra: str = "") -> str:
    return (
        f'"""doc"""\nimport sqlalchemy as sa\n{extra}revision = "{rev}"\ndown_revision = {down!r}\n'
    )


# -- migration files --------------------------------------------------------------------------
def test_linear_chain_head_and_order():
    sources = [migration("c", "b"), migration("a", None), migration("b", "a"), "# __init__"]
    assert V.parse_migrations(sources) == ("c", ("a", "b", "c"))


def test_annotated_assignments_and_a_merge_point():
    sources = [
        'revision: str = "m"\ndown_revision: tuple = ("x", "y")\n',
        migration("x", "a"),
        migration("y", "a"),
        migration("a", None),
        migration("n", "m"),
    ]
    head, chain = V.parse_migrations(sources)
    assert head == "n" and chain[0] == "a" and chain[-2:] == ("m", "n")
    assert set(chain) == {"a", "x", "y", "m", "n"}  # every ancestor once, parents first


def test_a_missing_base_file_is_tolerated():
    # A parent that is not among the files (e.g. a squashed base left out) ends the chain.
    assert V.parse_migrations([migration("b", "gone"), migration("c", "b")]) == ("c", ("b", "c"))


def test_two_heads_or_none_are_errors():
    with pytest.raises(V.SchemaProbeError, match="2 Alembic heads"):
        V.parse_migrations([migration("a", None), migration("b", "a"), migration("c", "a")])
    with pytest.raises(V.SchemaProbeError, match="no Alembic revision"):
        V.parse_migrations(["x = 1\n"])


def test_migration_path():
    chain = ["a", "b", "c", "d"]
    assert V.migration_path(chain, "b", "d") == ["c", "d"]
    assert V.migration_path(chain, "d", "d") == []
    with pytest.raises(ValueError, match="downgrade"):
        V.migration_path(chain, "d", "b")
    with pytest.raises(ValueError, match="zz is not in"):
        V.migration_path(chain, "zz", "d")


# -- the image probe's answer -----------------------------------------------------------------
def probe_out(version="3.2.2", heads=(H322,), revisions=("a", H322)) -> str:
    import json

    data = {"airflow": version, "heads": list(heads), "revisions": list(revisions)}
    data["heads_map"] = {"3.2.0": H322}
    return "some warning\nTESTBED_SCHEMA " + json.dumps(data) + "\n"


def test_probe_output_is_read_from_the_marker_line():
    info = V.parse_probe_output(probe_out(), "3.2.2", "image x")
    assert (info.head, info.revisions, info.heads_map) == (H322, ("a", H322), {"3.2.0": H322})
    assert V.SchemaInfo.from_json(info.to_json()) == info


@pytest.mark.parametrize(
    "out, message",
    [
        ("Traceback ...\n", "no schema answer"),
        (probe_out(heads=("a", "b")), "2 Alembic heads"),
        (probe_out(version="3.3.2"), "runs Airflow 3.3.2, not 3.2.2"),
        (probe_out(revisions=(H322, "a")), "does not end at"),
    ],
)
def test_bad_probe_output_is_an_error(out, message):
    with pytest.raises(V.SchemaProbeError, match=message):
        V.parse_probe_output(out, "3.2.2", "image x")


# -- versions and the cache -------------------------------------------------------------------
def test_versions_order_by_number():
    assert V.version_key("3.10.0") > V.version_key("3.9.9")
    assert V.buildable_versions()[:3] == ["3.1.7", "3.1.8", "3.2.2"]
    with pytest.raises(V.UnknownVersion, match="buildable: 3.1.7, 3.1.8, 3.2.2, 3.3.1, 3.3.2"):
        V.check_buildable("3.0.6")
    with pytest.raises(V.UnknownVersion, match="not a release version"):
        V.version_key("3.3.x")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_CACHE", str(tmp_path))
    return tmp_path


def test_second_call_comes_from_the_cache(cache, monkeypatch):
    calls = []

    def from_image(version, image, timeout):
        calls.append(image)
        return V.SchemaInfo(version, H322, ("a", H322), f"image {image}")

    monkeypatch.setattr(V, "_image_built", lambda image: True)
    monkeypatch.setattr(V, "schema_info_from_image", from_image)
    assert V.schema_head("3.2.2") == H322
    assert V.schema_head("3.2.2") == H322
    assert len(calls) == 1 and calls[0].startswith("testbed-airflow:3.2.2-")
    assert calls[0] in (cache / V.CACHE_FILE).read_text()


def test_unbuilt_image_says_how_to_build_it(cache, monkeypatch):
    monkeypatch.setattr(V, "_image_built", lambda image: False)
    with pytest.raises(ImageMissing, match="testbed images build --airflow-version 3.1.8"):
        V.schema_info("3.1.8")


def test_unbuilt_image_falls_back_to_the_wheel_when_allowed(cache, monkeypatch):
    monkeypatch.setattr(V, "_image_built", lambda image: False)
    wheel = V.SchemaInfo("3.1.8", H318, (H317, "x", H318), "wheel apache-airflow-core==3.1.8")
    monkeypatch.setattr(V, "schema_info_from_wheel", lambda v, timeout: wheel)
    assert V.schema_info("3.1.8", allow_wheel=True) == wheel
    monkeypatch.setattr(V, "schema_info_from_wheel", lambda v, timeout: 1 / 0)
    assert V.schema_info("3.1.8", allow_wheel=True).head == H318  # cached


# -- the plan ---------------------------------------------------------------------------------
NODES = ["api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2"]


def order(plan, *keys) -> list[int]:
    """Index of the first step matching each (action, node)."""
    idx = [(s.action, s.node) for s in plan.steps]
    return [idx.index(k) for k in keys]


def test_patch_with_a_schema_change_is_refused_the_live_path():
    plan = make_plan("3.1.7", "3.1.8", H317, H318, nodes=NODES, migrations=2)
    assert plan.kind == "downtime" and not plan.live
    assert "NO live upgrade" in plan.summary and "2 migration(s)" in plan.summary
    phases = [s.phase for s in plan.steps]
    firsts = [phases.index(p) for p in ("drain", "stop", "backup", "migrate")]
    assert firsts == sorted(firsts)
    assert phases.index("start") > phases.index("migrate") > phases.index("backup")
    keys = [("stop", "scheduler"), ("term", "worker-1"), ("wait_idle", "worker-2")]
    keys += [("wait_exit", "api-server"), ("pg_dump", "postgres"), ("db_migrate", "migrate")]
    keys += [("check_migrations", "migrate"), ("replace", "scheduler"), ("replace", "worker-1")]
    got = order(plan, *keys)
    assert got == sorted(got)
    migrate = next(s for s in plan.steps if s.action == "db_migrate")
    assert "3.1.8 image" in migrate.detail and "pg_advisory_lock(1)" in migrate.detail


def test_patch_without_schema_change_rolls_in_the_guides_order():
    plan = make_plan("3.3.1", "3.3.2", H332, H332, nodes=NODES + ["scheduler-2"])
    assert plan.kind == "live" and plan.live
    got = order(
        plan,
        ("replace", "api-server"),
        ("replace", "triggerer"),
        ("term", "worker-1"),
        ("wait_idle", "worker-1"),
        ("replace", "worker-1"),
        ("wait_ready", "worker-1"),
        ("term", "worker-2"),
        ("replace", "scheduler"),
        ("wait_ready", "scheduler"),
        ("replace", "scheduler-2"),
        ("stop", "dag-processor"),
        ("start", "dag-processor"),
    )
    assert got == sorted(got)
    assert not any(s.action in ("db_migrate", "pg_dump") for s in plan.steps)
    assert sum(s.action == "term" for s in plan.steps) == 2  # one TERM per worker, no second


def test_downgrade_across_a_schema_change_is_a_restore():
    plan = make_plan("3.3.2", "3.2.2", H332, H322, nodes=NODES, migrations=14)
    assert plan.kind == "rollback" and "14 migration(s) to take back" in plan.summary
    actions = [s.action for s in plan.steps]
    assert "pg_restore" in actions and "db_migrate" not in actions
    assert actions.index("pg_restore") < actions.index("replace")
    text = " ".join(plan.reasons)
    assert "#68317" in text and f"airflow db downgrade -r {H322}" in text and "3.3.2 image" in text


def test_rollback_by_downgrade_reverses_the_schema_with_the_newer_image():
    plan = make_plan("3.3.2", "3.2.2", H332, H322, nodes=NODES, migrations=14, rollback="downgrade")
    actions = [s.action for s in plan.steps]
    assert "db_downgrade" in actions and "pg_restore" not in actions
    assert actions.index("pg_dump") < actions.index("db_downgrade") < actions.index("replace")
    step = plan.steps[actions.index("db_downgrade")]
    assert f"-r {H322}" in step.detail and "3.3.2 image" in step.detail
    assert "airflow db downgrade" in plan.summary


def test_downgrade_without_schema_change_rolls_clients_first():
    plan = make_plan("3.3.2", "3.3.1", H332, H332, nodes=NODES)
    assert plan.kind == "live"
    got = order(plan, ("term", "worker-1"), ("replace", "scheduler"), ("replace", "api-server"))
    assert got == sorted(got)


def test_plan_as_json():
    data = make_plan("3.1.7", "3.1.8", H317, H318, nodes=["worker-1"]).to_json()
    assert (data["kind"], data["live"], data["to_head"]) == ("downtime", False, H318)
    assert data["steps"][1] == {
        "phase": "drain",
        "action": "term",
        "node": "worker-1",
        "detail": "one TERM: warm shutdown (stop consuming, finish running tasks); no second TERM",
    }


def test_same_version_is_nothing_to_do():
    plan = make_plan("3.3.2", "3.3.2", H332, H332, nodes=NODES)
    assert (plan.kind, plan.steps) == ("none", ())


def test_roles_from_node_names():
    assert [role(n) for n in ("worker-3", "scheduler-2", "api-server", "dag-processor")] == [
        "celery-worker",
        "scheduler",
        "api-server",
        "dag-processor",
    ]


def test_plan_between_reads_both_and_counts_the_migrations():
    chains = {
        "3.1.7": ("a", H317),
        "3.1.8": ("a", H317, "m1", H318),
    }
    read = lambda v: V.SchemaInfo(v, chains[v][-1], chains[v], "test")  # noqa: E731
    plan, a, b = plan_between("3.1.7", "3.1.8", read, nodes=NODES)
    assert (a.head, b.head, plan.kind) == (H317, H318, "downtime")
    assert "2 migration(s)" in plan.summary
    back, _, _ = plan_between("3.1.8", "3.1.7", read, nodes=NODES)
    assert back.kind == "rollback" and "2 migration(s) to take back" in back.summary
    with pytest.raises(V.UnknownVersion, match="buildable: 3.1.7"):
        plan_between("3.1.7", "3.0.6", read)
    with pytest.raises(V.UnknownVersion, match="the way back to Airflow 2 is the backup"):
        plan_between("3.1.7", "2.10.5", read, rollback="downgrade")


def test_cli_unknown_version_is_one_line_listing_the_buildable(tmp_path):
    exe = Path(sys.executable).with_name("testbed")
    r = subprocess.run(
        [str(exe), "upgrade-plan", "3.1.7", "3.0.6"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    (line,) = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert "unknown Airflow version '3.0.6'" in line and "3.1.7, 3.1.8, 3.2.2, 3.3.1" in line


def test_two_api_servers_wait_out_a_healthy_threshold_before_the_next_stops():
    """The survivor must carry the traffic before its peer stops: with two api-servers each
    replaced one waits out the balancer's healthy threshold; with one there is nobody to
    hand over to, and no such step."""
    two = make_plan("3.3.1", "3.3.2", H332, H332, nodes=NODES + ["api-server-2"])
    got = order(
        two,
        ("replace", "api-server"),
        ("wait_ready", "api-server"),
        ("wait_healthy", "api-server"),
        ("replace", "api-server-2"),
        ("wait_healthy", "api-server-2"),
        ("replace", "triggerer"),
    )
    assert got == sorted(got)
    one = make_plan("3.3.1", "3.3.2", H332, H332, nodes=NODES)
    assert not any(s.action == "wait_healthy" for s in one.steps)


def test_the_healthy_threshold_counts_answers_in_a_row(monkeypatch):
    import threading

    from testbed.upgrade import procedure as P

    monkeypatch.setattr(P, "HEALTHY_INTERVAL", 0.001)
    answers = iter([True, True, False, True, True, True, True])
    asked = []

    def health_ok(self, node):
        asked.append(node)
        return next(answers)

    monkeypatch.setattr(P.Procedure, "_health_ok", health_ok)
    proc = P.Procedure(cluster=None, version="3.3.2", cancelled=threading.Event())
    proc.wait_healthy(P.Step("roll", "wait_healthy", "api-server-2", ""))
    assert asked == ["api-server-2"] * 6  # a slow answer starts the count again

    monkeypatch.setattr(P.Procedure, "_health_ok", lambda self, node: False)
    proc.ready_timeout = 0.05
    with pytest.raises(P.UpgradeFailed, match="did not answer 3 health checks in a row"):
        proc.wait_healthy(P.Step("roll", "wait_healthy", "api-server-2", ""))


def test_a_nodes_planned_window_runs_from_its_first_roll_action_to_its_readiness(monkeypatch):
    import threading
    from contextlib import contextmanager

    from testbed.upgrade import procedure as P

    log: list[str] = []

    @contextmanager
    def planned(node):
        log.append(f"open {node}")
        yield
        log.append(f"close {node}")

    def action(self, step):
        log.append(f"{step.action} {step.node}")
        if step.node == "broken":
            raise P.UpgradeFailed("boom")

    monkeypatch.setattr(P, "ACTIONS", {a: action for a in ("stop", "replace", "wait_ready")})
    proc = P.Procedure(cluster=None, version="3.3.2", cancelled=threading.Event(), planned=planned)
    steps = [
        P.Step("roll", "stop", "scheduler", ""),
        P.Step("roll", "replace", "api-server", ""),
        P.Step("roll", "wait_ready", "api-server", ""),
        P.Step("roll", "replace", "scheduler", ""),
        P.Step("roll", "wait_ready", "scheduler", ""),
    ]
    monkeypatch.setattr(
        P.Procedure, "_one", lambda self, i, step: P.ACTIONS[step.action](self, step)
    )
    proc.run(SimpleNamespace(steps=steps, live=True))
    assert log == [
        "open scheduler", "stop scheduler",
        "open api-server", "replace api-server", "wait_ready api-server", "close api-server",
        "replace scheduler", "wait_ready scheduler", "close scheduler",
    ]  # fmt: skip
    log.clear()
    with pytest.raises(P.UpgradeFailed):
        proc.run(SimpleNamespace(steps=[P.Step("roll", "replace", "broken", "")], live=True))
    assert log == ["open broken", "replace broken", "close broken"]  # closed on failure too
