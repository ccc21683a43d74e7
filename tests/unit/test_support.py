"""The backend support table (``testbed backends``, the README's copy) says what validation does:
a kind marked unsupported on a backend is refused there for that reason, a supported one is not,
and the README holds the table as generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import support
from testbed.core.errors import TestbedError
from testbed.faults.registry import REGISTRY
from testbed.scenario.load import from_data

README = Path(__file__).resolve().parents[2] / "README.md"
TOPOLOGY = {  # the Kerberos kinds' pieces, where built
    "docker": {"workers": 1, "kerberos": True},
    "kubernetes": {"backend": "kubernetes", "executor": "CeleryExecutor", "kerberos": True},
    support.EXISTING: {
        "backend": "kubernetes",
        "executor": "CeleryExecutor",
        "kubeconfig": "/k",
        "registry": "r:5000",
    },
}
EXTRA = {  # what each kind needs beyond name, kind and target to pass its model
    "clock_jump": {"offset": "2m"},
    "clock_skew": {"offset": "2m"},
    "cpu_throttle": {"cpus": 0.2},
    "memory_limit": {"memory": "600m"},
    "db_lock": {"table": "dag"},
    "link": {"toxic": "down"},
    "dag_drift": {"file": "long_task.py"},
}
TARGET = {  # a target each kind accepts where it runs
    "link": "*",
    "db_lock": "postgres",
    "pod_delete": "scheduler",
    "container_kill": "scheduler",
    "rotate_key": "pg-krb",
    "clock_skew": "pg-krb",
    "dag_drift": "worker-1",
}
# a node a node fault may target
NODE = {
    "docker": "scheduler",
    "kubernetes": "k8s-node",
    support.EXISTING: "k8s-client",
}
# kinds the backend runs, refused for this one target for a reason of their own
CA = "s.yaml: steps.0.fault.target: k8s-node holds the cluster's CA and etcd: kill, stop or hang it"
ALSO_REFUSED = {("replace", "kubernetes"): CA, ("remove", "kubernetes"): CA}
REFUSED_FOR_BACKEND = (
    "needs `topology: {backend",
    "needs `topology: {kerberos: true}`",
    "backend only",
    "is not run here (an existing cluster is driven as a namespace-scoped user",
)


def _refusal(kind: str, backend: str) -> str:
    """What validation says of one fault of ``kind`` on ``backend`` ("" when it raises nothing)."""
    fault = {
        "name": "f",
        "kind": kind,
        "target": TARGET.get(kind, NODE[backend]),
        **EXTRA.get(kind, {}),
    }
    data = {
        "name": "s",
        "topology": TOPOLOGY[backend],
        "steps": [{"fault": fault}, {"expect": {"name": "done", "check": "no_task_lost"}}],
    }
    try:
        from_data(data, "s.yaml")
    except TestbedError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("backend", support.HEADS)
@pytest.mark.parametrize("kind", list(REGISTRY))
def test_each_fault_cell_is_what_validation_does(kind, backend):
    cell = dict(
        zip(support.HEADS, next(r for r in support.rows() if r.name == kind).cells, strict=True)
    )[backend]
    said = _refusal(kind, backend)
    if cell == support.YES:  # accepted as written (a node the backend has, the kind's fields)
        assert said in ("", ALSO_REFUSED.get((kind, backend))), f"{kind} on {backend}: {said}"
    else:
        assert any(needle in said for needle in REFUSED_FOR_BACKEND), f"{kind}: {said!r}"


def test_the_readme_holds_the_table_as_generated():
    block = support.readme_block(README.read_text())
    assert block is not None, f"no generated block in {README}"
    assert block == support.markdown(), "README out of date: run `testbed backends --markdown`"


def test_the_block_is_replaced_in_place_and_a_readme_without_one_is_refused():
    text = f"intro\n{support.README_BEGIN}\nold\n{support.README_END}\nrest\n"
    new = support.with_block(text)
    assert new.startswith("intro\n") and new.endswith(f"{support.README_END}\nrest\n")
    assert support.readme_block(new) == support.markdown()
    with pytest.raises(ValueError, match="no .* block"):
        support.with_block("intro\n")
