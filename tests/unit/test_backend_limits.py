"""The one table of what each backend supports (testbed.backend_limits.BACKEND_LIMITS): the topology
checks its fields against it, the scenario's validation asks it which steps are built, and a
fault kind that needs a backend says so in the fault registry; no rule names a backend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from testbed import topology
from testbed.backend_limits import BACKEND_LIMITS, BACKENDS
from testbed.core.errors import TestbedError
from testbed.faults.registry import REGISTRY
from testbed.scenario.load import from_data
from testbed.topology import Topology

K8S = {"backend": "kubernetes", "executor": "KubernetesExecutor"}
UP = {"expect": {"name": "up", "check": "healthy", "probe": "api_health"}}
# one step of each action a backend may not have built (a valid one otherwise)
STEP = {
    "add_node": {"add_node": "scheduler-2"},
    "remove_node": {"remove_node": "scheduler-2"},
    "upgrade": {"upgrade": {"to": "3.3.2"}},
    "migrate": {"migrate": {"to": "3.3.2"}},
    "backup": {"backup": "before"},
    "restore": {"restore": "before"},
    "wait_node": {"wait_node": {"node": "migrate"}},
    "sleep": {"sleep": "1s"},
    "push_dags": {"push_dags": {"files": {"a.py": "a.py"}}},
    "seed_history": {"seed_history": {"dag": "smoke", "runs": 10}},
}


def _drill(topo: dict, *steps: dict) -> dict:
    return {"name": "d", "topology": topo, "steps": [*steps, UP]}


def _topology_of(backend: str) -> dict:
    executor = BACKEND_LIMITS[backend].executors[0]
    return {"backend": backend, "executor": executor}


@pytest.mark.parametrize(
    ("backend", "action"),
    [(b, a) for b, limits in BACKEND_LIMITS.items() for a in sorted(limits.steps_not_built)],
)
def test_a_step_not_built_for_a_backend_is_refused_from_the_table(backend, action):
    if action == "chaos":
        data = {"name": "d", "topology": _topology_of(backend), "steps": [{"chaos": {"seed": 1}}]}
        needle = f"a chaos step is not built for backend {backend} yet"
    else:
        data = _drill(_topology_of(backend), STEP[action])
        needle = f"{action} is not built for backend {backend} yet"
    with pytest.raises(TestbedError, match=needle):
        from_data(data, "bad.yaml")


def test_the_validation_asks_the_table_not_the_backend_name(monkeypatch):
    docker = replace(BACKEND_LIMITS["docker"], steps_not_built=frozenset({"sleep", "chaos"}))
    monkeypatch.setitem(topology.BACKEND_LIMITS, "docker", docker)
    with pytest.raises(TestbedError, match="steps.0.sleep: sleep is not built for backend docker"):
        from_data(_drill({}, STEP["sleep"]), "bad.yaml")
    with pytest.raises(TestbedError, match="a chaos step is not built for backend docker yet"):
        from_data({"name": "d", "steps": [{"chaos": {"seed": 1}}]}, "bad.yaml")
    assert Topology().limits is docker


def test_a_fault_kind_for_some_backends_names_them():
    for kind, spec in REGISTRY.items():
        assert set(spec.backends) <= set(BACKENDS), kind
    assert REGISTRY["pod_delete"].backends == ("kubernetes",)
    fault = {"fault": {"name": "f", "kind": "pod_delete", "target": "scheduler"}}
    with pytest.raises(TestbedError, match=r"steps.0.fault.kind: a pod_delete fault needs `top"):
        from_data(_drill({}, fault), "bad.yaml")
    assert from_data(_drill(K8S, fault), "ok.yaml").steps[0].kind == "pod_delete"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({**K8S, "kerberos": True}, "the ticket refresher runs beside each Celery worker"),
        ({**K8S, "api_servers": 2}, r"backend kubernetes runs 1 api-server\(s\) at most"),
        ({"k8s_nodes": 2}, r"k8s_nodes must be 1..3 \(backend kubernetes\), got 2"),
        ({**K8S, "k8s_nodes": 4}, r"k8s_nodes must be 1..3 \(backend kubernetes\), got 4"),
        ({"executor": "KubernetesExecutor"}, "not built for backend docker; allowed: Celery"),
        ({**K8S, "config": {"core": {"executor": "x"}}}, "set the topology's executor instead"),
    ],
)
def test_the_topology_is_checked_against_its_backends_limits(kwargs, needle):
    with pytest.raises(TestbedError, match=needle):
        Topology(**kwargs)


def test_what_the_table_allows_builds():
    assert Topology(api_servers=3, kerberos=True).limits is BACKEND_LIMITS["docker"]
    executors = Topology(**K8S, k8s_nodes=3).limits.executors
    assert executors == (
        "KubernetesExecutor",
        "CeleryExecutor",
        "CeleryExecutor,KubernetesExecutor",
    )
    assert Topology(config={"core": {"executor": "CeleryExecutor"}}).executor == "CeleryExecutor"
