"""A scenario in compressed time: its own waits scaled like the cluster's Airflow timers (the
rules are in :mod:`testbed.timescale`): a fault's ``for:``, ``sleep``, ``during:`` windows, and
the detection bounds ``max_delay``/``max_age``/``max_interval`` (a ticket's refresh cycle).
``within:``/``timeout:`` stay as written, and so does a fault's ``delay:`` (it places the fault
in work no Airflow timer paces, e.g. a roll)."""

from __future__ import annotations

from testbed import timescale as T
from testbed.scenario import model as M

DETECTION_PARAMS = ("max_delay", "max_age", "max_interval")


def compress(scenario: M.Scenario, timescale: float) -> M.Scenario:
    if timescale == 1.0:
        return scenario
    steps = [_step(step, timescale) for step in scenario.steps]
    return scenario.model_copy(update={"steps": steps})


def _step(step, ts: float):
    if isinstance(step, M.Fault) and step.for_ is not None:
        return step.model_copy(update={"for_": T.duration(step.for_, ts)})
    if isinstance(step, M.Sleep):
        return step.model_copy(update={"seconds": T.duration(step.seconds, ts)})
    if isinstance(step, M.Expect):
        return _expect(step, ts)
    return step


def _expect(step: M.Expect, ts: float) -> M.Expect:
    update: dict = {}
    if step.during is not None:
        update["during"] = T.duration(step.during, ts)
    extra = dict(step.model_extra or {})
    for key in DETECTION_PARAMS:
        if extra.get(key) is not None:
            extra[key] = T.detection_bound(float(extra[key]), ts)
    copied = step.model_copy(update=update)
    copied.__pydantic_extra__ = extra
    return copied
