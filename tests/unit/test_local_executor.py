"""The LocalExecutor topology: no broker and no Celery workers, the scheduler runs the tasks
(DAGs, a log disk, its own Execution API and log-store links), and what a scenario may not ask
of it."""

from __future__ import annotations

import pytest
import yaml

from testbed.compose import render
from testbed.core.errors import TestbedError
from testbed.faults.process_roles import runs_on
from testbed.scenario.load import from_data
from testbed.scenario.topology_spec import TopologySpec
from testbed.services import airflow
from testbed.topology import Topology
from testbed.upgrade.plan import make_plan
from tests.unit.test_service_specs import FakeCtx

LOCAL = Topology(executor="LocalExecutor")


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


def test_drain_pauses_every_dag_and_waits_for_the_tasks_before_the_scheduler_stops():
    plan = make_plan("3.3.1", "3.3.2", H332, H332, nodes=LOCAL.airflow_nodes, local="drain")
    acts = _actions(plan)
    at = acts.index
    assert at(("pause_dags", None)) < at(("wait_tasks_done", None)) < at(("replace", "scheduler"))
    assert at(("wait_ready", "scheduler")) < at(("unpause_dags", None))
    assert at(("replace", "api-server")) < at(("pause_dags", None))  # the roll order holds
    assert ("kill", "scheduler") not in acts and ("term", "worker-1") not in acts


def test_kill_kills_the_scheduler_with_its_tasks_and_clears_them_once_it_is_back():
    plan = make_plan("3.3.1", "3.3.2", H332, H332, nodes=LOCAL.airflow_nodes, local="kill")
    acts = _actions(plan)
    at = acts.index
    assert at(("kill", "scheduler")) < at(("replace", "scheduler"))
    assert at(("wait_ready", "scheduler")) < at(("clear_killed", None))
    assert ("pause_dags", None) not in acts


def test_a_schema_change_drains_before_the_stop_and_unpauses_after_the_start():
    plan = make_plan("3.1.7", "3.1.8", H317, H318, nodes=LOCAL.airflow_nodes, local="drain")
    acts = _actions(plan)
    at = acts.index
    assert at(("wait_tasks_done", None)) < at(("stop", "scheduler")) < at(("db_migrate", "migrate"))
    assert at(("wait_ready", "scheduler")) < at(("unpause_dags", None)) < at(("versions", None))


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
