"""The scenario engine: carries out a scenario's steps against a running cluster and records
them in its history (see :mod:`testbed.engine.execute`, which hands each step over).

- :mod:`~testbed.engine.runner`: the :class:`Runner`, its step verbs and lifecycle;
- :mod:`~testbed.engine.dag_runs`: the run verbs (trigger a DAG run, wait for its state);
- :mod:`~testbed.engine.steps_bound`: bounded step execution, the step scope, StepFailed and
  StepOverrun;
- :mod:`~testbed.engine.observing`: the background observations (runs, containers);
- :mod:`~testbed.engine.gathering`: the on-demand probes a check needs before it is evaluated;
- :mod:`~testbed.engine.fault_book`: the faults, injected now or later, and their heals.

The names below are re-exported for importers; the timing constants are read (and patched by
tests) in the module that defines them.
"""

from testbed.engine.dag_runs import API_BOUND, DagRuns
from testbed.engine.fault_book import AUDIT_BOUND, FAULTS, HEAL_BOUND, FaultBook
from testbed.engine.gathering import GATHER_MIN, GATHERERS, Gatherer
from testbed.engine.observing import Observations
from testbed.engine.runner import (
    DIAGNOSTICS_JOIN,
    STEP_JOIN,
    Runner,
    ServingApi,
)
from testbed.engine.steps_bound import GRACE, BoundSteps, StepFailed, StepOverrun, StepScope

__all__ = [
    "API_BOUND",
    "AUDIT_BOUND",
    "DIAGNOSTICS_JOIN",
    "FAULTS",
    "GATHERERS",
    "GATHER_MIN",
    "GRACE",
    "HEAL_BOUND",
    "STEP_JOIN",
    "BoundSteps",
    "DagRuns",
    "FaultBook",
    "Gatherer",
    "Observations",
    "Runner",
    "ServingApi",
    "StepFailed",
    "StepOverrun",
    "StepScope",
]
