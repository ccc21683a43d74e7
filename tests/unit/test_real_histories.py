"""Checks judged on histories recorded by real drills (``tests/unit/histories/*.jsonl.gz``,
saved from `testbed run` records as they were written): every expectation a drill recorded is
judged again, on the events it saw, with the parameters it had, and must come out the same.
A probe whose output shape drifts, or a check whose logic changes, fails here in a second,
not only in a 40-minute integration run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from testbed.checks.registry import REGISTRY

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.jsonl.gz"))


def events_of(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def judged_again(events: list[dict], expectation: dict):
    """The check of ``expectation`` on the events before it, over its own window."""
    before = [e for e in events if e["seq"] < expectation["seq"]]
    step = [e for e in before if e["kind"] == "step" and e.get("phase") in ("start", "end")]
    # the expect step it closes (none for the automatic "overrides in force", made at start)
    start = step[-1] if step and step[-1]["phase"] == "start" else {}
    spec = REGISTRY[expectation["check"]]
    params = spec.params.model_validate(expectation["params"])
    since = start["mono"] if start.get("during") is not None else None
    return spec.evaluate(before, params, since=since)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name.split(".")[0] for p in HISTORIES])
def test_every_recorded_expectation_is_judged_the_same_again(path):
    events = events_of(path)
    expectations = [e for e in events if e["kind"] == "expectation"]
    assert len(expectations) >= 2, "a real drill records its own expectations"
    for e in expectations:
        result = judged_again(events, e)
        assert (result.ok, result.detail) == (e["ok"], e["detail"]), e["name"]


def test_a_broken_history_fails_the_check_that_passed_on_the_real_one():
    """Run b's task instances cut out of the real broker_outage history: what it recorded as
    "no task lost" no longer holds."""
    events = events_of(Path(__file__).parent / "histories" / "broker_outage.jsonl.gz")
    lost = next(e for e in events if e["kind"] == "expectation" and e["name"] == "no task lost")
    assert judged_again(events, lost).ok

    def of_run_b(e: dict) -> bool:
        value = e.get("value") if e.get("probe") == "task_instance" else None
        return isinstance(value, dict) and value.get("run_id") == _run_id(events, "b")

    broken = [e for e in events if not of_run_b(e)]
    result = judged_again(broken, lost)
    assert not result.ok and "b: 0 task instances observed" in result.detail


def test_the_broker_outage_showed_its_effect_in_the_real_history():
    """The tries the outage cost (min_retried), judged on the run recorded before the drill
    judged it: the first task of each run needed three tries."""
    events = events_of(Path(__file__).parent / "histories" / "broker_outage.jsonl.gz")
    spec = REGISTRY["no_task_lost"]
    assert spec.evaluate(events, spec.params(min_retried=2)).measurements["retried"] == [
        "a.items",
        "b.items",
    ]
    failed = spec.evaluate(events, spec.params(min_retried=3))
    assert not failed.ok and "2 task instance(s) retried, fewer than 3" in failed.detail


def _run_id(events: list[dict], name: str) -> str:
    return next(e["run_id"] for e in events if e["kind"] == "trigger" and e["name"] == name)
