"""No drill can hang the runner: each backing node itself (not its Toxiproxy link) is frozen
(``docker pause``) or killed on a real cluster while the runner carries out every kind of step:
``expect`` within and during, ``heal`` (of a link fault, which needs Toxiproxy), ``trigger``
and ``wait``. Every step must end within its bound plus the grace, the scenario must end with a
verdict, and the frozen or killed node must be healed at the end.
"""

from __future__ import annotations

import pytest

from testbed import engine, faults, runtime
from testbed.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]

BACKING = ["postgres", "redis", "minio", "toxiproxy"]
SLACK = 3.0  # seconds of scheduling noise on 2 cores, on top of a step's bound and the grace


def scenario(node: str, mode: str) -> Scenario:
    fault = {"name": "frozen", "kind": "hang", "target": node, "mode": "pause"}
    if mode == "kill":
        fault = {"name": "frozen", "kind": "kill", "target": node}
    return Scenario.model_validate(
        {
            "name": f"hangproof_{node}_{mode}",
            "steps": [
                {"trigger": {"name": "long", "dag": "long_task", "conf": {"seconds": 5}}},
                {"fault": {"name": "slow", "kind": "link", "target": "worker-1->redis",
                           "toxic": "latency", "attributes": {"latency": 50}}},
                {"fault": fault},
                {"expect": {"check": "healthy", "probe": "api_health", "within": "3s",
                            "finding": True}},
                {"expect": {"check": "health_stable", "probe": "api_health", "during": "3s",
                            "finding": True}},
                {"expect": {"check": "remote_logs_all", "run": "long", "within": "2s",
                            "finding": True}},
                {"heal": {"fault": "slow", "timeout": "6s"}},
                {"trigger": {"name": "second", "dag": "long_task", "conf": {"seconds": 1},
                             "timeout": "8s"}},
                {"wait": {"run": "long", "state": "failed", "timeout": "3s"}},
            ],
        }
    )  # fmt: skip


def step_durations(events: list[dict]) -> list[tuple[str, float, float]]:
    """(action, seconds from start to end, its bound) of every step that started."""
    starts = {e["index"]: e for e in events if e["kind"] == "step" and e["phase"] == "start"}
    ends = {e["index"]: e for e in events if e["kind"] == "step" and e["phase"] == "end"}
    out = []
    for i, start in starts.items():
        assert i in ends, f"step {i} ({start['action']}) has no end event"
        out.append((start["action"], ends[i]["mono"] - start["mono"], start["bound"]))
    return out


@pytest.mark.parametrize("mode", ["pause", "kill"])
@pytest.mark.parametrize("node", BACKING)
def test_a_frozen_or_killed_backing_node_never_hangs_the_runner(
    node, mode, testbed_run_scenario, testbed_pool
):
    verdict = testbed_run_scenario(scenario(node, mode))
    cluster = testbed_pool.cluster
    events = _events(verdict, testbed_pool)
    durations = step_durations(events)
    assert len(durations) >= 4, durations  # the fault and the steps after it ran
    for action, took, bound in durations:
        assert took <= bound + engine.GRACE + SLACK, f"{action} took {took:.1f}s (bound {bound})"
    assert verdict.failed_steps, "a wait for an impossible state must fail, and did not"
    # the node the scenario froze or killed was healed by finish(), whatever the steps did
    assert runtime.state(cluster.container(node)) == "running"
    assert not faults.stopped_pids(cluster.container(node))
    problems = [p for p in verdict.heal_problems if p.startswith(("proxy ", "toxiproxy"))]
    assert problems == [], verdict.lines()


def _events(verdict, pool) -> list[dict]:
    from testbed.core.history import History

    folders = sorted((pool.cluster.dir / "scenarios").glob(f"{verdict.scenario}-*"))
    return History(folders[-1] / "history.jsonl").events()
