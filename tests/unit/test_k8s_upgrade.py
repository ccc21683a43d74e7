"""The live upgrade on Kubernetes without Docker: the chart's plan (the order the guide rolls the
Deployments in, a Celery worker drained by its pod's TERM), the verdicts not built for it, the
rollout's end read from a Deployment's status, each role's update strategy, and the scenario
fields an upgrade on Kubernetes refuses."""

from __future__ import annotations

import pytest

from testbed.backend_limits import HYBRID
from testbed.core.errors import TestbedError
from testbed.core.secrets import Secrets
from testbed.k8s import manifests as M
from testbed.k8s import roll
from testbed.k8s.roll import _describe, _rolled
from testbed.scenario.load import from_data
from testbed.topology import Topology
from testbed.upgrade.plan import make_plan
from testbed.upgrade.plan_k8s import NOT_BUILT

H1, H2 = "d2f4e1b3c5a7", "1d6611b6ab7c"
KE = ["api-server", "scheduler", "dag-processor", "triggerer"]


def _k8s_plan(frm: str, to: str, pods: list[str], heads=(H1, H1)):
    return make_plan(frm, to, *heads, nodes=pods, kubernetes=True)


def test_a_patch_release_rolls_every_deployment_in_the_guides_order():
    plan = _k8s_plan("3.3.1", "3.3.2", KE)
    assert plan.kind == "live"
    actions = [(s.action, s.node) for s in plan.steps]
    assert actions == [
        ("heads_equal", None),
        ("load_image", None),
        ("roll_config", None),
        ("migration_job", "run-airflow-migrations"),
        ("roll_pod", "api-server"),
        ("roll_pod", "triggerer"),
        ("roll_pod", "scheduler"),
        ("roll_pod", "dag-processor"),
        ("versions", None),
    ]
    # the Docker procedure's container actions never appear on Kubernetes
    assert not {s.action for s in plan.steps} & {"replace", "stop", "term", "wait_idle"}


def test_celery_workers_roll_after_the_triggerer_and_before_the_scheduler():
    pods = Topology(2, backend="kubernetes", executor=HYBRID).pods
    rolled = [s.node for s in _k8s_plan("3.3.1", "3.3.2", pods).steps if s.action == "roll_pod"]
    assert rolled == ["api-server", "triggerer", "worker-1", "worker-2", "scheduler",
                      "dag-processor"]  # fmt: skip
    worker = next(s for s in _k8s_plan("3.3.1", "3.3.2", pods).steps if s.node == "worker-1")
    assert "one TERM" in worker.detail and "grace is 600 s" in worker.detail


def test_a_schema_change_stops_every_deployment_drained_migrates_then_starts_them():
    pods = Topology(1, backend="kubernetes", executor=HYBRID).pods
    plan = _k8s_plan("3.2.2", "3.3.2", pods, (H2, H1))
    assert plan.kind == "downtime"
    actions = [(s.action, s.node) for s in plan.steps]
    stops = [n for a, n in actions if a in ("scale_down", "scale_zero")]
    # nothing new first, the running work drained, then the rest side by side
    assert stops == ["scheduler", "worker-1", "dag-processor", "triggerer", "api-server"]
    assert actions.index(("wait_task_pods", None)) == actions.index(("scale_down", "scheduler")) + 1
    order = [a for a, _ in actions]
    rest = order.index("scale_zero")
    assert order[rest : rest + 6] == ["scale_zero"] * 3 + ["wait_gone"] * 3
    # stopped, backed up, migrated and checked before anything starts on the new image
    last_stop = max(i for i, a in enumerate(order) if a in ("scale_down", "wait_gone"))
    first_start = order.index("start_pod")
    middle = order[last_stop + 1 : first_start]
    assert middle == ["pg_dump", "load_image", "roll_config", "migration_job", "check_migrations"]
    # every Deployment started, then each waited for (their boots overlap)
    assert order[first_start:-1] == ["start_pod"] * 5 + ["wait_pod"] * 5
    assert order[0] == "heads_differ" and order[-1] == "versions"


@pytest.mark.parametrize(
    ("frm", "to", "heads", "kind"),
    [
        ("3.3.2", "3.3.1", (H1, H1), "live"),  # a live downgrade (reverse order)
        ("3.3.2", "3.2.2", (H1, H2), "rollback"),
    ],
)
def test_what_is_not_built_on_kubernetes_keeps_its_verdict_and_has_no_steps(frm, to, heads, kind):
    plan = _k8s_plan(frm, to, KE, heads)
    assert plan.kind == kind and plan.steps == ()
    assert plan.reasons[-1] == NOT_BUILT


def test_the_same_version_is_nothing_to_do_on_kubernetes_too():
    plan = _k8s_plan("3.3.2", "3.3.2", KE)
    assert plan.kind == "none" and plan.steps == ()


@pytest.mark.parametrize(
    ("fields", "done"),
    [
        ("2/2/1/1/1/1", True),
        ("3/2/1/1/1/1", False),  # the change not yet observed by the controller
        ("2/2/1/2/1/1", False),  # the old pod still there beside the new one
        ("2/2/1/1/0/1", False),  # the one pod is still the old one
        ("2/2/1/1/1/", False),  # no pod available (an absent field reads empty)
        ("Error from server (NotFound)", False),
    ],
)
def test_a_rollout_is_done_only_when_its_one_pod_is_new_and_available(fields, done):
    assert _rolled(fields) is done


def _celery_objects() -> list[dict]:
    topology = Topology(2, backend="kubernetes", executor="CeleryExecutor")
    hosts = {"postgres": "1", "minio": "2", "toxiproxy": "3", "redis": "4"}
    return M.objects(topology, Secrets.generate(), "img:1", hosts)


def test_what_the_chart_runs_as_statefulsets_recreates_and_the_rest_rolls_with_a_surge():
    strategy = {o["metadata"]["name"]: o["spec"]["strategy"] for o in _celery_objects()
                if o["kind"] == "Deployment"}  # fmt: skip
    # the chart's worker and triggerer StatefulSets: the old pod goes first
    assert strategy["worker-1"] == strategy["worker-2"] == {"type": "Recreate"}
    assert strategy["triggerer"] == {"type": "Recreate"}
    surge = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert [strategy[r] for r in ("api-server", "scheduler", "dag-processor")] == [surge] * 3


def test_an_upgrade_applies_again_only_what_names_the_image_for_pods_started_later():
    picked = roll.config_objects(_celery_objects())
    names = {(o["kind"], o["metadata"]["name"]) for o in picked}
    roles = ["api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2"]
    expected = {("Secret", f"airflow-env-{r}") for r in [*roles, "migrate", "worker"]}
    assert names == expected | {("ConfigMap", "pod-template")}
    # the image is in what is picked: the executor's tag, the template's container
    env = next(o for o in picked if o["metadata"]["name"] == "airflow-env-scheduler")
    assert env["stringData"]["AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG"] == "1"


def _container_fields(field: str) -> dict:
    """Each Deployment's container's ``field`` (None where it has none)."""
    topology = Topology(backend="kubernetes", executor="KubernetesExecutor")
    hosts = {"postgres": "1", "minio": "2", "toxiproxy": "3"}
    objs = M.objects(topology, Secrets.generate(), "img:1", hosts)
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0].get(field)
        for o in objs
        if o["kind"] == "Deployment"
    }


def test_only_the_api_server_keeps_serving_a_while_after_it_is_deleted():
    hooks = _container_fields("lifecycle")
    assert hooks.pop("api-server") == {"preStop": {"exec": {"command": ["sleep", "10"]}}}
    assert set(hooks.values()) == {None}


def test_only_the_api_server_starts_when_its_execution_api_has_answered_once():
    probes = _container_fields("startupProbe")
    startup = probes.pop("api-server")
    assert startup["httpGet"] == {"path": "/execution/health", "port": 8080}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60  # a slow build's time
    assert set(probes.values()) == {None}


def test_a_rollout_waiting_on_a_warm_shutdown_says_so():
    assert "warm shutdown" in _describe("2/2/1///")
    assert _describe("2/2/1/2/1/1") == "2 pod(s), 1 of the new image, 1 of 1 available"


def _scenario(step: dict) -> dict:
    topology = {"backend": "kubernetes", "executor": "KubernetesExecutor",
                "airflow_version": "3.3.1"}  # fmt: skip
    up = {"expect": {"name": "up", "check": "healthy", "probe": "api_health"}}
    return {"name": "d", "topology": topology, "steps": [step, up]}


def test_an_upgrade_of_every_deployment_is_accepted_on_kubernetes():
    scenario = from_data(_scenario({"upgrade": {"to": "3.3.2"}}), "ok.yaml")
    assert scenario.versions() == {"3.3.1", "3.3.2"}


@pytest.mark.parametrize(
    ("step", "field", "needle"),
    [
        ({"to": "3.3.2", "nodes": ["scheduler"]}, "nodes", "`nodes:` is not built"),
        ({"to": "3.2.2"}, "to", "a downgrade is not built"),
    ],
)
def test_a_partial_roll_or_a_downgrade_on_kubernetes_is_refused(step, field, needle):
    with pytest.raises(TestbedError, match=rf"steps\.0\.upgrade\.{field}: .*{needle}"):
        from_data(_scenario({"upgrade": step}), "bad.yaml")


def test_the_backends_table_says_which_part_of_the_upgrade_is_built_on_kubernetes():
    from testbed import support

    row = next(r for r in support.rows() if r.section == "step" and r.name == "upgrade")
    docker, kubernetes, existing = row.cells
    assert docker == support.YES and existing == support.NO
    assert kubernetes.startswith(f"{support.YES} (every Deployment") and "newer" in kubernetes
