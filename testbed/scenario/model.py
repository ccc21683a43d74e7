"""The scenario model: one validated data structure behind both front-ends (YAML and Python).

A scenario is a topology (workers, Airflow version, config overrides) and ordered steps:
``trigger`` a DAG run, ``wait`` for a state, inject a ``fault`` (for a duration or until a later
``heal``), ``expect`` a check eventually ``within`` T or ``always during`` a window, ``heal``,
``add_node``, ``sleep``; or one ``chaos`` step (seeded random faults under a workload, drawn by
:mod:`testbed.chaos` and expanded into those plain steps when the scenario is validated).
Validation is strict: unknown keys, bad durations, unknown checks,
roles, links, DAGs and names are rejected before anything boots.

This module is the ``Scenario`` model and the YAML step shorthand (``{action: fields}``); the
parts live in :mod:`testbed.scenario.base` (strict base, bounds), :mod:`.topology_spec`,
:mod:`.steps`, :mod:`.steps_fault`, :mod:`.steps_upgrade` and :mod:`.steps_chaos`, and are
re-exported here, so ``from testbed.scenario.model import X`` works for each of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from testbed.backend_limits import BACKEND_LIMITS
from testbed.core.errors import TestbedError
from testbed.core.values import ConfigKey, Duration
from testbed.scenario.base import (
    DEFAULT_BOUNDS,
    NAME,
    Bounded,
    Strict,
    Version,
)
from testbed.scenario.chaos_expand import scenario_data
from testbed.scenario.known_issue import KnownIssue
from testbed.scenario.steps import (
    ACTION_MODELS,
    ACTIONS,
    EXPECT_SLACK,
    TI_STATES,
    AddNode,
    Expect,
    Heal,
    RemoveNode,
    Sleep,
    Step,
    StopWorkload,
    Trigger,
    Wait,
    Workload,
)
from testbed.scenario.steps_chaos import Chaos, ChaosKind
from testbed.scenario.steps_fault import (
    FAULT_MODELS,
    FAULT_PARAMS,
    HEALED_BY_STEP,
    DelayDraw,
    Fault,
    FaultKind,
)
from testbed.scenario.steps_upgrade import (
    Backup,
    Migrate,
    Restore,
    SeedHistory,
    Upgrade,
    WaitNode,
)
from testbed.scenario.topology_spec import TopologySpec
from testbed.upgrade.versions import version_key

__all__ = [
    "ACTIONS",
    "ACTION_MODELS",
    "DEFAULT_BOUNDS",
    "EXPECT_SLACK",
    "FAULT_MODELS",
    "FAULT_PARAMS",
    "HEALED_BY_STEP",
    "NAME",
    "SCALAR_FIELD",
    "TI_STATES",
    "AddNode",
    "Backup",
    "Bounded",
    "Chaos",
    "ChaosKind",
    "ConfigKey",
    "DelayDraw",
    "Expect",
    "Fault",
    "FaultKind",
    "Heal",
    "Migrate",
    "RemoveNode",
    "Restore",
    "Scenario",
    "Sleep",
    "Step",
    "StopWorkload",
    "Strict",
    "TopologySpec",
    "Trigger",
    "SeedHistory",
    "Upgrade",
    "Version",
    "Wait",
    "WaitNode",
    "Workload",
    "allowed_fields",
    "field_path",
]


class Scenario(Strict):
    """A topology and ordered steps; see the module docstring."""

    name: str = Field(pattern=NAME)
    description: str = ""
    topology: TopologySpec = TopologySpec()
    steps: list[Step] = Field(min_length=1)
    timeout: Duration = 900.0  # no step starts later than this (each step has its own bound)
    # a reported issue this drill reproduces (testbed.scenario.known_issue)
    known_issue: KnownIssue | None = None
    _chaos: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def chaos_schedules(self) -> list[dict[str, Any]]:
        """The chaos schedules (JSON) these steps were drawn from; recorded before step 0."""
        return self._chaos

    def attach_schedule(self, schedule: dict[str, Any]) -> Scenario:
        self._chaos = [schedule]
        return self

    def versions(self) -> set[str]:
        """Every Airflow version the scenario runs (its images must be built)."""
        wanted = {self.topology.airflow_version}
        wanted |= {s.to for s in self.steps if isinstance(s, Upgrade | Migrate)}
        return wanted | {s.version for s in self.steps if isinstance(s, AddNode) and s.version}

    @model_validator(mode="before")
    @classmethod
    def _step_shorthand(cls, data: Any) -> Any:
        """YAML form: each step is ``{action: {fields}}`` (or ``{heal: name}`` etc.)."""
        if isinstance(data, dict) and isinstance(data.get("steps"), list):
            steps = []
            for i, step in enumerate(data["steps"]):
                try:
                    steps.append(_unwrap(step))
                except ValueError as exc:
                    raise ValueError(f"steps.{i}: {exc}") from None
            data = {**data, "steps": steps}
        return data

    @model_validator(mode="after")
    def _symptom_named(self) -> Scenario:
        """A known issue's symptom names expectations of the drill (not findings), and its
        fix comes after every version it affects."""
        issue = self.known_issue
        if issue is None:
            return self
        named = {s.name for s in self.steps if isinstance(s, Expect) and not s.finding}
        unknown = sorted(set(issue.symptom) - named)
        if unknown:
            have = ", ".join(sorted(n for n in named if n)) or "none"
            raise ValueError(f"known_issue.symptom: no expectation named {unknown}; named: {have}")
        if issue.fixed_in and any(
            version_key(v) >= version_key(issue.fixed_in) for v in issue.affects
        ):
            raise ValueError("known_issue.fixed_in: it must be newer than every affected version")
        return self

    @model_validator(mode="after")
    def _clocks_movable(self) -> Scenario:
        """A ``clock_jump`` fault steps a running node's clock: the topology then starts its
        Airflow nodes with a clock that can move (``clock_jumps``), with no need to say so."""
        if any(isinstance(s, Fault) and s.kind == "clock_jump" for s in self.steps):
            self.topology = self.topology.model_copy(update={"clock_jumps": True})
        return self

    @model_validator(mode="after")
    def _expand_chaos(self) -> Scenario:
        """A ``chaos`` step: draw its schedule and run the plain steps it stands for."""
        chaos = [s for s in self.steps if isinstance(s, Chaos)]
        if not chaos:
            return self
        if len(self.steps) != 1:
            raise ValueError(
                "a chaos step is the whole scenario: make it the only step "
                "(add invariants with its 'expect' list)"
            )
        backend = self.topology.backend
        if "chaos" in BACKEND_LIMITS[backend].steps_not_built or self.topology.kubeconfig:
            where = "an existing cluster" if self.topology.kubeconfig else f"backend {backend}"
            raise ValueError(f"a chaos step is not built for {where} yet")
        try:
            drawn = chaos[0].draw(self.topology)
            expanded = Scenario.model_validate(scenario_data(drawn, self.name))
        except TestbedError as exc:  # a ValueError: the loader names the file and the step
            raise ValueError(f"chaos: {exc.one_line()}") from None
        self.steps = expanded.steps
        if "timeout" not in self.model_fields_set:
            self.timeout = max(self.timeout, expanded.timeout)
        return self.attach_schedule(drawn.to_json())


SCALAR_FIELD = {
    "heal": "fault",
    "add_node": "node",
    "sleep": "seconds",
    "backup": "name",
    "restore": "name",
    "stop_workload": "name",
    "remove_node": "node",
}


def _unwrap(step: Any) -> Any:
    if not isinstance(step, dict) or "action" in step:
        return step
    if len(step) != 1:
        raise ValueError(
            f"a step is one mapping {{action: fields}}; got keys {', '.join(map(str, step))}; "
            f"actions: {', '.join(ACTIONS)}"
        )
    ((action, body),) = step.items()
    if action not in ACTIONS:
        raise ValueError(f"unknown step action {action!r}; allowed: {', '.join(ACTIONS)}")
    if not isinstance(body, dict):
        if action not in SCALAR_FIELD:
            raise ValueError(f"step {action!r} takes a mapping of fields")
        body = {SCALAR_FIELD[action]: body}
    return {"action": action, **body}


def field_path(loc: tuple) -> tuple:
    """A validation error's location as the scenario names it: pydantic puts the fault kind
    a step was validated as after ``fault`` (``steps.2.fault.kill.mode``); the file has none."""
    if len(loc) > 3 and loc[0] == "steps" and loc[2] == "fault" and loc[3] in FAULT_MODELS:
        return (*loc[:3], *loc[4:])
    return loc


def allowed_fields(loc: tuple) -> list[str]:
    """The field names allowed where a validation error points (for "unknown field")."""
    if len(loc) > 3 and loc[0] == "steps" and loc[2] == "fault" and loc[3] in FAULT_MODELS:
        fault = FAULT_MODELS[loc[3]]
        return [*fault.common(), *fault.spec.params.model_fields]
    if loc and loc[0] == "steps" and len(loc) >= 3 and loc[2] in ACTION_MODELS:
        model: type[BaseModel] = ACTION_MODELS[loc[2]]
    elif loc and loc[0] == "topology":
        model = TopologySpec
    elif len(loc) == 1:
        model = Scenario
    else:
        return []
    return [f.alias or name for name, f in model.model_fields.items() if name != "action"]
