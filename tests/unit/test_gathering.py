"""The expectation's look (``Gatherer.judge``) without Docker: a ``within`` wait looks again
until the check holds, and ends at once on a failure no later look can turn."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from pydantic import BaseModel

from testbed.checks import CheckResult, CheckSpec
from testbed.engine.gathering import Gatherer


class NoParams(BaseModel):
    pass


def _gatherer() -> Gatherer:
    history = SimpleNamespace(snapshot=lambda: [])
    cluster = SimpleNamespace(history=history)
    return Gatherer(cluster, threading.Event(), dict, None, None, lambda: None)


def _judged(results: list[CheckResult], within: float) -> tuple[CheckResult, int, float]:
    looks = []

    def check(view, params) -> CheckResult:
        looks.append(1)
        return results[min(len(looks), len(results)) - 1]

    t0 = time.monotonic()
    result = _gatherer().judge(
        CheckSpec("c", check, NoParams), NoParams(), within=within, poll=0.01
    )
    return result, len(looks), time.monotonic() - t0


def test_a_within_wait_looks_again_until_the_check_holds():
    result, looks, _ = _judged([CheckResult.failed("not yet")] * 3 + [CheckResult.passed("ok")], 5)
    assert result.ok and looks == 4


def test_a_failure_for_good_ends_the_wait_at_once():
    result, looks, took = _judged(
        [CheckResult.failed("not yet"), CheckResult.failed_for_good("no")], 5
    )
    assert not result.ok and result.detail == "no" and looks == 2


def test_a_plain_failure_waits_its_time_out():
    result, looks, took = _judged([CheckResult.failed("not yet")], 0.3)
    assert not result.ok and looks > 2 and took >= 0.3
