"""Seeded chaos on Kubernetes, the pure parts: what the draw may hit (pod roles by pod_delete,
the pods' links; never a node kind on a pod), the expanded scenario, and a worker pod deleted
mid-task excusing its lost log. No Docker, no Kubernetes."""

from __future__ import annotations

import pytest

from testbed.scenario import chaos_generate as G
from testbed.scenario import from_data
from testbed.scenario.model import Fault
from testbed.topology import Topology

K8S_CELERY = Topology(2, backend="kubernetes", executor="CeleryExecutor")
TOPOLOGY = {"backend": "kubernetes", "executor": "CeleryExecutor", "workers": 2}


def test_default_targets_on_kubernetes_are_the_pod_roles_but_the_api_server_and_their_links():
    targets = G.default_targets(K8S_CELERY)
    assert {"scheduler", "dag-processor", "triggerer", "worker-1", "worker-2"} <= set(targets)
    assert "api-server" not in targets and "worker-2->redis" in targets


def test_the_draw_hits_pods_with_pod_delete_links_with_toxics_and_nothing_else():
    targets = G.default_targets(K8S_CELERY)
    kinds = ["hang", "kill", "pod_delete", "link"]
    seen = set()
    for seed in range(30):
        for f in G.draw(seed, 240.0, kinds, targets, K8S_CELERY):
            seen.add(f.kind)
            if f.kind == "pod_delete":
                assert f.target in K8S_CELERY.pods and f.params["grace"] in G.POD_GRACES
            else:
                assert f.kind == "link" and "->" in f.target
    assert seen == {"pod_delete", "link"}  # a node kind has no node to hit here
    assert G.draw(3, 240.0, kinds, targets, K8S_CELERY) == G.draw(
        3, 240.0, kinds, targets, K8S_CELERY
    )
    with pytest.raises(G.ChaosError, match="pod_delete needs pods"):
        G.draw(1, 60.0, ["hang"], ["scheduler"], K8S_CELERY)


def test_on_docker_pod_delete_has_nothing_to_hit():
    docker = Topology()
    with pytest.raises(G.ChaosError, match="no target suits"):
        G.eligible(["pod_delete"], G.default_targets(docker), docker.pods)


def test_a_kubernetes_chaos_step_expands_to_pod_deletes_that_validate():
    step = {"seed": 5, "duration": "120s", "faults": ["pod_delete", "link"]}
    s = from_data({"name": "c", "topology": TOPOLOGY, "steps": [{"chaos": step}]})
    faults = [st for st in s.steps if isinstance(st, Fault)]
    assert faults and {f.kind for f in faults} <= {"pod_delete", "link"}
    for f in faults:
        if f.kind == "pod_delete":
            assert f.grace in (0.0, 30.0)


def test_a_worker_pod_deleted_mid_task_excuses_that_attempts_missing_log():
    from tests.unit.test_chaos import _check, _log, _ti, _trigger

    deleted = {"kind": "fault", "phase": "deleted", "fault": "pod_delete", "target": "worker-1"}
    deleted |= {"pods": ["worker-1-abc-x"], "mono": 5}
    events = [_trigger("a", "r1"), _ti(1, "r1", "t", 1, "running", "worker-1-abc-x"), deleted]
    events += [_ti(40, "r1", "t", 2, "success", "worker-2-def-y")]
    events += [_log("r1", "t", 1, False), _log("r1", "t", 2, True)]
    ok = _check("remote_logs_all", events, excuse_killed=True)
    assert ok.ok and ok.measurements["excused"] == ["a.t try 1"]
    other = [{**e, "pods": ["worker-2-def-y"]} if e is deleted else e for e in events]
    assert not _check("remote_logs_all", other, excuse_killed=True).ok


def test_chaos_kinds_are_checked_against_the_backend_and_default_to_what_it_runs():
    with pytest.raises(G.ChaosError, match="'pod_delete' runs on backend kubernetes, not docker"):
        G.draw(1, 60.0, ["pod_delete", "kill"], G.default_targets(Topology()), Topology())
    assert G.default_kinds(K8S_CELERY) == ("pod_delete", "link")
    assert G.default_kinds(Topology()) == G.DEFAULT_KINDS
    s = from_data({"name": "c", "topology": TOPOLOGY, "steps": [{"chaos": {"seed": 5}}]})
    assert {st.kind for st in s.steps if isinstance(st, Fault)} <= {"pod_delete", "link"}
    assert "pod_delete" in {st.kind for st in s.steps if isinstance(st, Fault)}
