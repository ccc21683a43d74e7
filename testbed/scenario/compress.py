"""A scenario in compressed time: its own waits scaled like the cluster's Airflow timers (the
rules are in :mod:`testbed.timescale`): a fault's ``for:``, ``sleep``, ``during:`` windows, and
the detection bounds ``max_delay``/``max_age``/``max_interval`` (a ticket's refresh cycle).
``within:``/``timeout:`` stay as written, and so does a fault's ``delay:`` (it places the fault
in work no Airflow timer paces, e.g. a roll). Each step compresses itself (``compress(ts)`` on
the step models, :mod:`testbed.scenario.steps`)."""

from __future__ import annotations

from testbed.scenario import model as M
from testbed.scenario.steps import DETECTION_PARAMS

__all__ = ["DETECTION_PARAMS", "compress"]


def compress(scenario: M.Scenario, timescale: float) -> M.Scenario:
    if timescale == 1.0:
        return scenario
    steps = [step.compress(timescale) for step in scenario.steps]
    return scenario.model_copy(update={"steps": steps})
