"""Seeded chaos on a real cluster (one cluster for the module, reset between runs): a short
seeded run under a workload passes and records its schedule before its first step; replaying
the record runs exactly that schedule; a deliberately failing schedule (three faults, and an
invariant only the scheduler hang breaks) shrinks to that one fault, written as plain YAML.

Kept short for CI: 50 s of chaos with hang and link faults (they heal in well under a second),
faults of 5-10 s, and a shrink budget of five runs."""

from __future__ import annotations

import pytest

from testbed.chaos import schedule as S
from testbed.chaos.cli import build
from testbed.chaos.run import failures, run_schedule, shrink_record
from testbed.core.history import load as load_history
from testbed.scenario import load
from testbed.scenario.chaos_generate import Drawn
from testbed.scenario.model import Fault

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-upgrades")]

SEED = 2  # draws: a scheduler hang (SIGSTOP), scheduler->redis latency, worker-2->redis down
OPTIONS = {
    "duration": "50s",
    "faults": ["hang", "link"],
    "min_fault": "5s",
    "max_fault": "10s",
    "min_gap": "3s",
    "max_gap": "8s",
    "workload": "many_tasks:10s",
    "settle": "150s",
}
STABLE = "scheduler /health stable over the whole run"


def _recorded(folder) -> list[dict]:
    return [e["schedule"] for e in load_history(folder / "history.jsonl") if e["kind"] == "chaos"]


@pytest.fixture(scope="module")
def chaos_run(testbed_pool):
    scenario = build(SEED, OPTIONS, workers=2, overrides=[])
    (schedule,) = scenario.chaos_schedules
    cluster = testbed_pool.get(scenario.topology.build())
    from testbed.engine.execute import execute

    verdict, folder = execute(scenario, cluster)
    return schedule, verdict, folder


def test_seeded_chaos_run_holds_and_records_its_schedule_first(chaos_run):
    schedule, verdict, folder = chaos_run
    assert verdict.clean, "\n".join(verdict.lines())
    assert len(schedule["faults"]) >= 2
    events = load_history(folder / "history.jsonl")
    first_step = next(i for i, e in enumerate(events) if e["kind"] == "step")
    chaos = [i for i, e in enumerate(events) if e["kind"] == "chaos"]
    assert chaos and chaos[0] < first_step and events[chaos[0]]["schedule"] == schedule
    injected = [(e["fault"], e["target"]) for e in events if e.get("phase") == "inject"]
    assert injected == [(f["kind"], f["target"]) for f in schedule["faults"]]
    names = {e["name"] for e in verdict.expectations}
    assert "no task lost (failed only with its retries used up)" in names
    assert "every finished attempt's log in MinIO and served by the API" in names


def test_replay_runs_exactly_the_recorded_schedule(chaos_run, testbed_pool):
    schedule, _, folder = chaos_run
    replayed = S.from_record(folder)
    verdict, again = run_schedule(replayed, testbed_pool, S.scenario_name(replayed.seed))
    assert again != folder and _recorded(again) == [schedule]
    events = load_history(again / "history.jsonl")
    injected = [(e["fault"], e["target"]) for e in events if e.get("phase") == "inject"]
    assert injected == [(f["kind"], f["target"]) for f in schedule["faults"]]
    assert verdict.clean, "\n".join(verdict.lines())


def _failing_schedule() -> S.Schedule:
    """Three faults; only the scheduler hang (the middle one) stops its /health answering."""
    faults = (
        Drawn("hang", "worker-1", 4, 2, {"mode": "pause"}),
        Drawn("hang", "scheduler", 6, 2, {"mode": "pause"}),
        Drawn("link", "triggerer->postgres", 4, 2, {"toxic": "latency"}),
    )
    stable = {"name": STABLE, "check": "health_stable", "probe": "scheduler_health"}
    return S.Schedule(
        seed=0,
        duration=20,
        faults=faults,
        workload=None,
        expect=(stable,),
        asked={"ranges": {"min_fault": 3.0, "min_gap": 1.0}},
        topology={"workers": 2, "config": S.CONFIG},
    )


def test_shrink_finds_the_one_fault_that_breaks_the_invariant(testbed_pool, tmp_path):
    verdict, record = run_schedule(_failing_schedule(), testbed_pool, "chaos-failing")
    assert failures(verdict) == [STABLE], "\n".join(verdict.lines())
    out = tmp_path / "shrunk.yaml"
    result, path, invariant = shrink_record(record, testbed_pool, max_runs=5, out=out)
    assert invariant == STABLE and path == out and result.runs <= 5
    shrunk = load(path)  # a plain scenario the loader accepts, as a person would commit it
    faults = [s for s in shrunk.steps if isinstance(s, Fault)]
    assert [(f.kind, f.target) for f in faults] == [("hang", "scheduler")]
    assert result.schedule.duration < 20
    assert path.read_text().startswith("# chaos seed 0: 1 faults")
