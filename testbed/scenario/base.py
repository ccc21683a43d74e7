"""The scenario model's groundwork: the strict base every model derives from (unknown keys are
rejected), the name and config-key patterns, the Airflow versions a step may name, what every
step kind says about itself (``StepKind``: its bound, its plan line, its compressed form) and
the bound most steps have (``Bounded``, ``DEFAULT_BOUNDS``).

Durations and Airflow option keys are :mod:`testbed.core.values`; the models built on this are
:mod:`testbed.scenario.topology_spec`, the ``steps*`` modules and :mod:`testbed.scenario.model`.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict

from testbed.core.values import Duration
from testbed.images.catalog import AIRFLOW_VERSIONS

NAME = r"^[A-Za-z][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# Every step has a bound: the main thread waits at most that (plus a few seconds' grace) for
# it, whatever the cluster does. ``wait`` has ``timeout``, ``expect`` its window, ``sleep`` its
# length; the other actions take an optional ``timeout`` with these defaults (seconds).
DEFAULT_BOUNDS = {
    "trigger": 120.0,
    "fault": 60.0,
    "heal": 240.0,  # healing a remove or replace boots the node again
    "add_node": 240.0,
    "upgrade": 900.0,
    "migrate": 300.0,
    "backup": 120.0,
    "restore": 120.0,
    "seed_history": 600.0,
    "remove_node": 60.0,
    "push_dags": 60.0,
}
Version = Literal[tuple(AIRFLOW_VERSIONS)]  # type: ignore[valid-type]


class StepKind(Strict):
    """What a step kind means, on the step itself (the kinds are registered by ``action`` in
    :data:`testbed.scenario.steps.ACTION_MODELS`): ``bound()`` (how long the main thread waits
    for it), ``describe()`` (its line in ``testbed run --dry-run``) and ``compress(ts)`` (the
    step in compressed time, :mod:`testbed.scenario.compress`). How the engine carries it out
    is :data:`testbed.engine.execute.HANDLERS`; what it is checked against across steps,
    :data:`testbed.scenario.validate.VALIDATORS` (both keyed by ``action``)."""

    def bound(self) -> float:
        raise NotImplementedError(type(self).__name__)

    def describe(self) -> str:
        raise TypeError(self)

    def compress(self, ts: float) -> Self:
        """The step with its own waits scaled by timescale ``ts``; most steps have none."""
        return self


class Bounded(StepKind):
    """A step with an optional ``timeout`` (its bound)."""

    timeout: Duration | None = None

    def bound(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_BOUNDS[self.action]
