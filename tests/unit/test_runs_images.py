"""`testbed run` on a machine without the Kubernetes node image: the other scenarios' images
are built first, the node builds in the background, and only the Kubernetes scenario waits for
it, when its turn comes (no Docker: stand-in pool, engine and builds)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from testbed import runs
from testbed.backends import images as image_provision
from testbed.scenario import from_data

ROOT = str(Path(runs.__file__).resolve().parents[1])
K8S = {"backend": "kubernetes", "executor": "KubernetesExecutor"}


def scenario(name: str, **topology):
    data = {
        "name": name,
        "topology": {**({} if topology.get("backend") else {"workers": 1}), **topology},
        "steps": [{"expect": {"name": "n", "check": "no_task_lost"}}],
    }
    return from_data(data, base=ROOT)


def test_only_the_kubernetes_scenario_waits_for_its_image(monkeypatch, tmp_path):
    log: list[str] = []
    monkeypatch.setattr(
        image_provision,
        "ensure_scenarios",
        lambda ss: log.append("ensure " + ",".join(s.name for s in ss)) or [],
    )
    monkeypatch.setattr(
        image_provision, "build_ahead", lambda ss: log.append(f"ahead {len(ss)} scenario(s)")
    )

    class Pool:
        reset_seconds: list = []

        def __init__(self, **_kw):
            pass

        def get(self, topology):
            return SimpleNamespace(run_id="tb-x")

        def boot_ahead(self, *_a):
            pass

        def close(self, reason):
            return []

    def execute(s, cluster, on_step=None):
        log.append(f"run {s.name}")
        verdict = SimpleNamespace(
            ok=True, clean=True, known_failure=False, interrupted=False, scenario=s.name,
            wall_seconds=1.0,
            lines=lambda: [],
        )  # fmt: skip
        return verdict, tmp_path

    monkeypatch.setattr("testbed.pool.ClusterPool", Pool)
    monkeypatch.setattr("testbed.engine.execute.execute", execute)
    plain, k8s, other = scenario("plain"), scenario("k8s", **K8S), scenario("other", workers=2)
    assert runs.run_all([plain, k8s, other], keep=False) == 0
    assert log == [
        "ensure plain,other",  # before anything runs: every image but the node's
        "ahead 3 scenario(s)",
        "run plain",
        "ensure k8s",  # its turn: waits for the node image (or builds it)
        "run k8s",
        "run other",
    ]
