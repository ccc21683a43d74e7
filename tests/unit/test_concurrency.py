"""How many of a run's task instances ran at once, from their recorded start and end times
(the LocalExecutor's `parallelism`): exact overlaps, the limit exceeded, never reached, and a
run not finished yet. No Docker."""

from __future__ import annotations

from testbed.checks.concurrency import most_at_once
from testbed.checks.registry import REGISTRY
from tests.unit.test_checks import TRIGGER, ev


def _ti(idx: int, start: float | None, end: float | None, task: str = "one") -> dict:
    value = {
        "dag_id": "long_task",
        "run_id": "r1",
        "task_id": task,
        "map_index": idx,
        "try_number": 1,
        "state": "success" if end else "running",
        "hostname": "scheduler",
        "start_epoch": start,
        "end_epoch": end,
    }
    return ev("observation", 1.0, probe="task_instance", target="long_task", value=value)


def _judge(spans: list[tuple], **params):
    events = [TRIGGER] + [_ti(i, *s) for i, s in enumerate(spans)]
    spec = REGISTRY["running_at_once"]
    return spec.evaluate(events, spec.params(run="long", **params))


def test_overlaps_are_counted_exactly_and_a_span_ending_as_one_starts_does_not_overlap():
    assert most_at_once([(0, 10), (1, 5), (2, 3)]) == 3
    assert most_at_once([(0, 5), (5, 10), (10, 15)]) == 1
    assert most_at_once([(0, 4), (1, 5), (4, 8), (5, 9)]) == 2


def test_two_at_a_time_under_a_limit_of_two_passes():
    r = _judge([(0, 4), (0.1, 4.1), (4, 8), (4.1, 8.2), (8, 12)], at_most=2)
    assert r.ok and r.measurements["most_at_once"] == 2


def test_a_limit_exceeded_or_never_reached_fails():
    r = _judge([(0, 4), (0.1, 4.1), (0.2, 4.2)], at_most=2)
    assert not r.ok and "3 of 3 ran at once, over 2" in r.detail
    r = _judge([(0, 4), (4, 8)], at_most=2)
    assert not r.ok and "the limit 2 was never reached" in r.detail
    assert _judge([(0, 4), (4, 8)], at_most=2, reached=False).ok


def test_a_run_still_running_is_not_judged_yet_and_other_tasks_are_left_out():
    r = _judge([(0, 4), (1, None)], at_most=2)
    assert not r.ok and "still running: one[1]" in r.detail
    events = [TRIGGER, _ti(0, 0, 4), _ti(1, 1, 5), _ti(-1, 0, 9, task="items")]
    spec = REGISTRY["running_at_once"]
    assert spec.evaluate(events, spec.params(run="long", task="one", at_most=2)).ok
    assert not spec.evaluate(events, spec.params(run="long", at_most=2)).ok  # items overlaps
