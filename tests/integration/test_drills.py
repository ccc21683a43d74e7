"""The drill pack: every scenario in scenarios/*.yaml passes on a real cluster (one boot per
topology, reset between drills of one topology; an upgrade drill's cluster is never reused),
its heal audit is clean, and nothing it injected is left."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from testbed.images import k8s_node as k8s_image

ROOT = Path(__file__).resolve().parents[2]


def _by_topology(path: Path) -> tuple[bool, str, str]:
    """Drills of one topology run one after another: the pool boots each topology once. The
    Kubernetes drills run last: on a machine without the node image it builds in the
    background meanwhile (see testbed.pytest_plugin)."""
    topology = yaml.safe_load(path.read_text()).get("topology") or {}
    k8s = topology.get("backend") == "kubernetes"
    return (k8s, json.dumps(topology, sort_keys=True), path.stem)


DRILLS = sorted((ROOT / "scenarios").glob("*.yaml"), key=_by_topology)

pytestmark = pytest.mark.integration

# Two lanes under `make test` (`pytest -n 2 --dist loadgroup`: a group runs whole on one
# worker, with its own cluster pool). The upgrade drills, CPU-bound (every roll starts Airflow
# again), run beside the others, which mostly wait on Airflow's timers. The Kerberos, Kubernetes
# and git-DAG drills are groups of their own: a lane takes one when it is done with its group,
# so no lane idles while another works through them (each group boots its topologies once, as
# it would alone). Smaller groups measured slower (docs/testing-and-benchmarks.md), but the
# Kubernetes drills split in three groups (KubernetesExecutor; Celery workers; the upgrades,
# each on a cluster of its own, with the drill booted on one's topology) share no topology, so
# the split costs no boot and lets both lanes share them at the end (in two groups, one lane
# ended 5 min after the other).
UPGRADES_LANE, DRILLS_LANE = "testbed-upgrades", "testbed-drills"
KERBEROS_LANE, KUBERNETES_LANE = "testbed-kerberos", "testbed-kubernetes"
KUBERNETES_CELERY_LANE = "testbed-kubernetes-celery"
KUBERNETES_UPGRADES_LANE = "testbed-kubernetes-upgrades"
DAG_SYNC_LANE = "testbed-dag-sync"


def lane(path: Path) -> str:
    if path.stem.startswith("upgrade_"):
        return UPGRADES_LANE
    topology = yaml.safe_load(path.read_text()).get("topology") or {}
    if topology.get("backend") == "kubernetes":  # the Kerberos pair beside the smaller group
        if topology.get("airflow_version"):  # the upgrades, and a drill sharing one's cluster
            return KUBERNETES_UPGRADES_LANE
        celery = "CeleryExecutor" in str(topology.get("executor"))
        return (
            KUBERNETES_CELERY_LANE if celery and not topology.get("kerberos") else KUBERNETES_LANE
        )
    if topology.get("dag_sync", "copy") != "copy":  # a group of its own, like Kerberos'
        return DAG_SYNC_LANE
    return KERBEROS_LANE if topology.get("kerberos") else DRILLS_LANE


def _marks(path: Path) -> list:
    """The scenario, its lane, and for a Kubernetes drill a skip with the reason where it cannot run
    (never in CI: there the drill runs and fails with the reason)."""
    marks = [pytest.mark.scenario(path), pytest.mark.xdist_group(lane(path))]
    if (yaml.safe_load(path.read_text()).get("topology") or {}).get("backend") == "kubernetes":
        why = None if os.environ.get("CI") else k8s_image.unavailable()
        marks.append(pytest.mark.skipif(why is not None, reason=f"backend kubernetes: {why}"))
    return marks


@pytest.mark.parametrize("path", [pytest.param(p, marks=_marks(p), id=p.stem) for p in DRILLS])
def test_drill(path, testbed_verdict):
    v = testbed_verdict
    if v.known_issue and v.known_issue["affected"]:  # a reported issue, on a version it affects
        assert v.known_issue["cell"] == "reproduced", v.known_issue["why"]
        assert v.known_failure
    else:
        assert v.ok, "\n".join(v.lines())
    assert v.heal_failures == [] and v.heal_problems == [], "\n".join(v.lines())
    # every fault the drill injected was healed (its history says so, not the runner)
    assert v.expectations and (v.known_failure or all(e["ok"] for e in v.expectations))
