"""The drill pack: every scenario in scenarios/*.yaml passes on a real cluster (one boot for the
pack, reset between drills), its heal audit is clean, and nothing it injected is left."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRILLS = sorted((ROOT / "scenarios").glob("*.yaml"))

# One xdist group: under `pytest -n 2 --dist loadgroup` the drills share one worker and its
# one cluster (two drill clusters at once on 2 cores would make timing-based checks flaky).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=pytest.mark.scenario(p), id=p.stem) for p in DRILLS]
)
def test_drill(path, testbed_verdict):
    v = testbed_verdict
    assert v.ok, "\n".join(v.lines())
    assert v.heal_failures == [] and v.heal_problems == [], "\n".join(v.lines())
    # every fault the drill injected was healed (its history says so, not the runner)
    assert all(e["ok"] for e in v.expectations) and v.expectations
