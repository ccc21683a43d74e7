"""The LocalExecutor topology: no broker and no Celery workers, the scheduler runs the tasks
(DAGs, a log disk, its own Execution API and log-store links), and what a scenario may not ask
of it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from testbed.checks.local import KilledParams
from testbed.checks.registry import REGISTRY
from testbed.compose import render
from testbed.core.errors import TestbedError
from testbed.faults.disk import LOG_DISK, default_path
from testbed.faults.process_roles import runs_on
from testbed.scenario.load import from_data
from testbed.scenario.topology_spec import TopologySpec
from testbed.services import airflow
from testbed.topology import Topology
from testbed.upgrade import local as local_actions
from testbed.upgrade.plan import make_plan
from testbed.upgrade.procedure import ACTIONS
from tests.unit.test_real_histories import events_of
from tests.unit.test_service_specs import FakeCtx

LOCAL = Topology(executor="LocalExecutor")
HISTORY = Path(__file__).parent / "histories"


def test_no_broker_no_workers_and_the_scheduler_runs_the_tasks():
    assert LOCAL.nodes == [
        "postgres", "minio", "toxiproxy",
        "api-server", "scheduler", "dag-processor", "triggerer",
    ]  # fmt: skip
    assert LOCAL.worker_names == [] and LOCAL.task_hosts == ["scheduler"]
    assert Topology().task_hosts == ["worker-1", "worker-2"]


def test_the_schedulers_links_carry_its_tasks_traffic_and_no_broker():
    labels = [k.label for k in LOCAL.links()]
    assert "scheduler->api-server" in labels and "scheduler->minio" in labels
    assert not [label for label in labels if label.endswith("->redis")]
    ports = [k.listen_port for k in LOCAL.links()]
    assert len(set(ports)) == len(ports)
    celery = [k.label for k in Topology().links()]
    assert "scheduler->api-server" not in celery and "scheduler->redis" in celery


def test_the_scheduler_gets_the_dags_a_log_disk_and_reaches_the_api_through_its_link():
    ctx = FakeCtx(topology=LOCAL)
    s = airflow.spec(ctx, "scheduler")
    assert "/opt/airflow/dags/smoke.py" in s.files
    assert [v.name for v in s.volumes] == ["scheduler-logs"]
    assert s.env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    port = LOCAL.link("scheduler", "api-server").listen_port
    assert s.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://toxiproxy:{port}/execution/"
    celery = airflow.spec(FakeCtx(), "scheduler")
    assert "/opt/airflow/dags/smoke.py" not in celery.files and celery.volumes == []


def test_the_plan_line_names_parallelism():
    t = Topology(executor="LocalExecutor", config={"core": {"parallelism": 3}})
    assert "LocalExecutor, tasks run under the scheduler (parallelism 3), no broker" in (
        t.describe()
    )


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"executor": "LocalExecutor", "kerberos": True}, "beside each Celery worker"),
        (
            {"executor": "LocalExecutor", "config": {"core": {"executor": "CeleryExecutor"}}},
            "config core.executor 'CeleryExecutor': set the topology's executor instead",
        ),
    ],
)
def test_what_a_local_topology_refuses(kwargs, needle):
    with pytest.raises(TestbedError, match=needle):
        Topology(**kwargs)


def test_a_scenario_may_not_give_a_local_topology_workers():
    with pytest.raises(ValueError, match="workers: the LocalExecutor runs no Celery workers"):
        TopologySpec(executor="LocalExecutor", workers=2)
    assert TopologySpec(executor="LocalExecutor").build().local


def test_task_processes_are_the_schedulers_under_the_local_executor():
    assert runs_on("task", "scheduler", local=True)
    assert runs_on("serve-logs", "scheduler", local=True)
    assert not runs_on("task", "scheduler") and not runs_on("celery-pool-child", "scheduler", True)
    assert runs_on("task", "worker-1")


# -- the guide's two upgrade procedures for the LocalExecutor's scheduler ----------------------
H332, H317, H318 = "d2f4e1b3c5a7", "cc92b33c6709", "509b94a1042d"


def _actions(plan) -> list[tuple[str, str | None]]:
    return [(s.action, s.node) for s in plan.steps]


def in_order(plan, *keys: tuple[str, str | None]) -> bool:
    """Each (action, node) is in the plan, in this order."""
    at = [_actions(plan).index(k) for k in keys]
    return at == sorted(at)


S = "scheduler"


def test_drain_pauses_every_dag_and_waits_for_the_tasks_before_the_scheduler_stops():
    plan = make_plan("3.3.1", "3.3.2", H332, H332, nodes=LOCAL.airflow_nodes, local="drain")
    assert in_order(plan, ("replace", "api-server"), ("pause_dags", S), ("wait_tasks_done", S),
                    ("replace", S), ("wait_ready", S), ("unpause_dags", S))  # fmt: skip
    assert ("kill", S) not in _actions(plan) and ("term", "worker-1") not in _actions(plan)


def test_kill_kills_the_scheduler_with_its_tasks_and_clears_them_once_it_is_back():
    plan = make_plan("3.3.1", "3.3.2", H332, H332, nodes=LOCAL.airflow_nodes, local="kill")
    assert in_order(plan, ("kill", S), ("replace", S), ("wait_ready", S), ("clear_killed", S))
    assert ("pause_dags", S) not in _actions(plan)


def test_a_schema_change_drains_before_the_stop_and_unpauses_after_the_start():
    plan = make_plan("3.1.7", "3.1.8", H317, H318, nodes=LOCAL.airflow_nodes, local="drain")
    assert in_order(plan, ("wait_tasks_done", S), ("stop", S), ("db_migrate", "migrate"),
                    ("wait_ready", S), ("unpause_dags", S), ("versions", None))  # fmt: skip


def test_celery_plans_are_unchanged_by_the_local_procedures():
    plan = make_plan("3.3.1", "3.3.2", H332, H332, nodes=Topology().airflow_nodes)
    assert not {"pause_dags", "kill", "clear_killed"} & {a for a, _ in _actions(plan)}


def _scenario(topology: dict, local: str) -> dict:
    return {
        "name": "x",
        "topology": topology,
        "steps": [
            {"upgrade": {"to": "3.3.2", "local": local}},
            {"expect": {"check": "no_task_lost"}},
        ],
    }


def test_local_is_refused_on_a_celery_cluster_before_anything_boots():
    scenario = _scenario({"airflow_version": "3.3.1"}, "kill")
    with pytest.raises(TestbedError, match="local: applies to the LocalExecutor only"):
        from_data(scenario)
    ok = from_data(_scenario({"airflow_version": "3.3.1", "executor": "LocalExecutor"}, "kill"))
    assert ok.steps[0].local == "kill"


def test_the_compose_export_has_no_broker_and_nothing_waits_for_one(tmp_path):
    doc = yaml.safe_load(render(LOCAL, tmp_path, run_id="tbcL").read_text())
    services = doc["services"]
    assert "redis" not in services and not any(n.startswith("worker-") for n in services)
    assert "redis" not in services["scheduler"]["depends_on"]
    celery = yaml.safe_load(render(Topology(), tmp_path / "c", run_id="tbcC").read_text())
    assert "redis" in celery["services"]["scheduler"]["depends_on"]


def test_term_sends_one_term_and_waits_for_the_exit_before_the_replacement():
    plan = make_plan("3.3.1", "3.3.2", H332, H332, nodes=LOCAL.airflow_nodes, local="term")
    assert in_order(plan, ("term", S), ("wait_idle", S), ("replace", S))
    acts = {a for a, _ in _actions(plan)}
    assert not {"kill", "pause_dags", "clear_killed", "unpause_dags"} & acts


def test_a_chaos_step_draws_from_the_local_clusters_own_nodes_and_links():
    data = {
        "name": "local_chaos",
        "topology": {"executor": "LocalExecutor"},
        "steps": [{"chaos": {"seed": 3, "duration": "3m"}}],
    }
    s = from_data(data)
    targets = {st.target for st in s.steps if getattr(st, "action", None) == "fault"}
    assert targets and s.topology.build().local
    assert not [t for t in targets if "redis" in t or t.startswith("worker-")]


@pytest.mark.parametrize("local", [None, "drain", "kill", "term"])
@pytest.mark.parametrize(
    ("a", "b", "ha", "hb"),
    [
        ("3.3.1", "3.3.2", H332, H332),  # live
        ("3.3.2", "3.3.1", H332, H332),  # live, back
        ("3.1.7", "3.1.8", H317, H318),  # downtime
        ("3.1.8", "3.1.7", H318, H317),  # rollback
    ],
)
def test_every_action_a_plan_names_is_one_the_procedure_carries_out(local, a, b, ha, hb):
    nodes = (LOCAL if local else Topology()).airflow_nodes
    plan = make_plan(a, b, ha, hb, nodes=nodes, local=local)
    assert {s.action for s in plan.steps} <= set(ACTIONS)
    assert plan.steps


KILLED = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 1}


@pytest.mark.parametrize(
    ("after", "outcome"),
    [
        ({"try_number": 1, "state": "running"}, None),  # not dealt with yet: wait
        ({"try_number": 1, "state": "queued"}, None),
        ({"try_number": 2, "state": "running"}, "run again by Airflow"),
        ({"try_number": 1, "state": "failed"}, "cleared"),  # the guide's clear by hand
        ({"try_number": 1, "state": None}, "reset by Airflow (it runs again)"),
        ({"try_number": 1, "state": "up_for_retry"}, "retried by Airflow"),
        ({"try_number": 1, "state": "success"}, "ended before the kill"),
        ({"try_number": 1, "state": "upstream_failed"}, "ended upstream_failed"),
        (None, "gone"),
    ],
)
def test_what_became_of_a_killed_task(after, outcome):
    assert local_actions.outcome_of(KILLED, after) == outcome


def test_airflow_gets_its_own_timers_to_deal_with_killed_tasks():
    def proc(config: dict) -> SimpleNamespace:
        topo = Topology(executor="LocalExecutor", config=config)
        return SimpleNamespace(cluster=SimpleNamespace(topology=topo), drain_timeout=180.0)

    assert local_actions.settle_bound(proc({})) == 30 + 300 + 60  # Airflow's defaults
    fast = {"scheduler": {"scheduler_health_check_threshold": 20,
                          "orphaned_tasks_check_interval": 10}}  # fmt: skip
    assert local_actions.settle_bound(proc(fast)) == 180.0  # the drain timeout at least


def test_disk_full_fills_the_log_disk_of_whatever_runs_the_tasks():
    assert default_path("worker-1") == default_path("scheduler", LOCAL.task_hosts) == LOG_DISK
    assert default_path("scheduler", Topology().task_hosts) is None  # no log disk there


def _judge_killed(events: list[dict], **params):
    return REGISTRY["killed_tasks"].evaluate(events, KilledParams(**params))


def test_the_killed_tasks_of_a_real_kill_upgrade_were_all_run_again_by_airflow():
    """upgrade_local_kill's record (3.3.1 -> 3.3.2): both killed tasks reset, none cleared."""
    events = events_of(HISTORY / "upgrade_local_kill.jsonl.gz")
    result = _judge_killed(events, min_killed=2, cleared=0)
    assert result.ok, result.detail
    assert result.measurements["outcomes"] == {"reset by Airflow (it runs again)": 2}
    assert not _judge_killed(events, cleared=1).ok  # had one needed clearing, it would say so
    assert not _judge_killed(events, min_killed=3).ok
    cut = [e for e in events if e["kind"] != "killed_cleared"]  # the clear step never ran
    assert "no record of the killed tasks" in _judge_killed(cut).detail
