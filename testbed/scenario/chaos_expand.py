"""A chaos schedule (seed, window, drawn faults, workload, invariants) and the plain scenario
data it runs as: the workload, then for each fault a quiet ``sleep``, the ``fault``, a ``sleep``
while it is in force and its ``heal``; the rest of the window quiet; the workload stopped; then
the invariants (see :mod:`testbed.chaos.schedule`). Pure data: no scenario model here, so the
model can expand a ``chaos`` step with it (:meth:`testbed.scenario.model.Chaos.draw`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from testbed.scenario.chaos_generate import Drawn, WorkloadSpec

WORKLOAD = "chaos"  # the workload's name: its runs are chaos-1, chaos-2, ...
HEALTH_WITHIN = 90.0
LOGS_WITHIN = 60.0


@dataclass(frozen=True)
class Schedule:
    seed: int
    duration: float  # the chaos window: every gap and fault, then quiet
    faults: tuple[Drawn, ...]
    workload: WorkloadSpec | None
    settle: float = 240.0
    expect: tuple[dict[str, Any], ...] = ()
    asked: dict[str, Any] = field(default_factory=dict)  # kinds, targets, ranges as given
    topology: dict[str, Any] = field(default_factory=dict)  # TopologySpec fields

    @property
    def tail(self) -> float:
        """The quiet end of the window, after the last heal."""
        return max(0.0, self.duration - sum(f.gap + f.seconds for f in self.faults))

    def with_faults(self, faults: tuple[Drawn, ...] | list[Drawn]) -> Schedule:
        """The same schedule with other faults, the window cut to them (a shrink candidate)."""
        faults = tuple(faults)
        used = sum(f.gap + f.seconds for f in faults)
        return replace(self, faults=faults, duration=min(self.duration, used + self.tail))

    def to_json(self) -> dict[str, Any]:
        w = self.workload
        return {
            "seed": self.seed,
            "duration": self.duration,
            "faults": [f.to_json() for f in self.faults],
            "workload": None if w is None else {"dag": w.dag, "every": w.every, "conf": w.conf},
            "settle": self.settle,
            "expect": list(self.expect),
            "asked": self.asked,
            "topology": self.topology,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        w = data.get("workload")
        return cls(
            seed=data["seed"],
            duration=data["duration"],
            faults=tuple(Drawn.from_json(f) for f in data["faults"]),
            workload=None if w is None else WorkloadSpec(w["dag"], w["every"], w["conf"]),
            settle=data.get("settle", 240.0),
            expect=tuple(data.get("expect") or ()),
            asked=data.get("asked") or {},
            topology=data.get("topology") or {},
        )

    def lines(self) -> list[str]:
        """The schedule as a person reads it (``--dry-run``, the YAML's header)."""
        w = self.workload
        load = f"{w.dag} every {w.every:g}s" if w else "none"
        out = [f"chaos seed {self.seed}: {len(self.faults)} faults in {self.duration:g}s; "
               f"workload {load}"]  # fmt: skip
        t = 0.0
        for i, f in enumerate(self.faults, 1):
            t += f.gap
            out.append(f"  {i:2}. at {t:5.0f}s  {f.label()} for {f.seconds:g}s")
            t += f.seconds
        settle = f" (runs may take {self.settle:g}s to end)" if self.workload else ""
        out.append(f"      until {self.duration:5.0f}s  quiet; then the invariants{settle}")
        return out


def fault_name(i: int, fault: Drawn) -> str:
    return f"f{i}-{fault.kind}-" + re.sub(r"[^A-Za-z0-9_.]+", "-", fault.target).strip("-")


def _s(seconds: float) -> str:
    return f"{seconds:g}s"


def fault_steps(schedule: Schedule) -> list[dict[str, Any]]:
    """The chaos window: per fault a quiet gap, the fault, its time in force, its heal."""
    steps: list[dict[str, Any]] = []
    for i, f in enumerate(schedule.faults, 1):
        name = fault_name(i, f)
        if f.gap:
            steps.append({"sleep": _s(f.gap)})
        steps.append({"fault": {"name": name, "kind": f.kind, "target": f.target, **f.params}})
        steps.append({"sleep": _s(f.seconds)})
        steps.append({"heal": name})
    if schedule.tail:
        steps.append({"sleep": _s(schedule.tail)})
    return steps


def invariants(schedule: Schedule) -> list[dict[str, Any]]:
    """The expectations judged after the chaos window (see the module docstring)."""
    out: list[dict[str, Any]] = []
    if schedule.workload is not None:
        out.append({"expect": {
            "name": "no task lost (failed only with its retries used up)",
            "check": "no_task_lost", "retry_budget": True, "within": _s(schedule.settle),
        }})  # fmt: skip
        out.append({"expect": {
            "name": "every finished attempt's log in MinIO and served by the API",
            "check": "remote_logs_all", "excuse_killed": True, "within": _s(LOGS_WITHIN),
        }})  # fmt: skip
    for component in ("scheduler", "dag_processor", "triggerer"):
        out.append({"expect": {
            "name": f"{component} healthy again (api-server)", "check": "healthy",
            "probe": "api_health", "component": component, "within": _s(HEALTH_WITHIN),
        }})  # fmt: skip
    airflow_2 = str((schedule.topology or {}).get("airflow_version", "3")).startswith("2.")
    if not airflow_2:  # an Airflow 2 scheduler runs no health server here
        out.append({"expect": {
            "name": "scheduler /health answers 200 again", "check": "healthy",
            "probe": "scheduler_health", "within": _s(HEALTH_WITHIN),
        }})  # fmt: skip
    return out + [{"expect": dict(e)} for e in schedule.expect]


def steps(schedule: Schedule) -> list[dict[str, Any]]:
    """The whole scenario's steps, in the YAML form (``{action: fields}``)."""
    out: list[dict[str, Any]] = [{"expect": {
        "name": "healthy before the chaos", "check": "healthy", "probe": "api_health",
        "within": "60s",
    }}]  # fmt: skip
    w = schedule.workload
    if w is not None:
        body = {"name": WORKLOAD, "dag": w.dag, "every": _s(w.every), "conf": w.conf}
        out.append({"workload": body})
    out += fault_steps(schedule)
    if w is not None:
        out.append({"stop_workload": WORKLOAD})
    return out + invariants(schedule)


def timeout(schedule: Schedule) -> float:
    """The scenario's timeout: the window, generous time per fault, the settle, the checks."""
    per_fault = 60.0  # an inject, a heal (a restart waits for its node) and their slack
    checks = LOGS_WITHIN + 4 * HEALTH_WITHIN + 200.0
    return max(
        900.0, schedule.duration + per_fault * len(schedule.faults) + schedule.settle + checks
    )


def scenario_data(schedule: Schedule, name: str, description: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"name": name}
    if description:
        data["description"] = description
    data["topology"] = schedule.topology or {}
    data["timeout"] = _s(timeout(schedule))
    data["steps"] = steps(schedule)
    return data
