"""A chaos schedule — seed, parameters, the drawn faults, the workload, the invariants — and the
plain scenario it runs as: the workload, then for each fault a quiet ``sleep``, the ``fault``,
a ``sleep`` while it is in force and its ``heal``; the rest of the window quiet; the workload
stopped; then the invariants over the whole history:

- **no task lost, within the retry budget**: every task instance of every run ends, and ends
  ``success`` — or ``failed`` only after using every try its DAG's retries gave it (its
  ``try_number`` is past ``max_tries``, as the metadata database says): a fault may make a task
  burn its retries (a killed worker's task is retried after the heartbeat timeout; a broker
  outage fails and retries every ~10 s), never lose one;
- **every finished attempt's log in MinIO and served by the API**, except an attempt whose
  worker was killed or restarted while it ran (a killed worker uploads no log: the
  ``worker_node_loss`` drill's finding); how many were excused is measured;
- **health recovered**: the api-server reports the scheduler, dag-processor and triggerer
  healthy again, and the scheduler's own ``/health`` answers 200;
- **heal audit clean**: the engine heals every fault and audits it (``verdict.clean``);
- plus any ``expect`` the schedule carries (e.g. ``health_stable`` over the whole run).

The schedule is recorded as a ``chaos`` event before the first step, so a record is enough to
run it again exactly (:func:`from_record`) — the seed is not re-drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from testbed.chaos import generate
from testbed.chaos.generate import Drawn, Ranges, WorkloadSpec
from testbed.errors import ScenarioError
from testbed.history import load as load_history
from testbed.scenario.model import Chaos, Scenario, TopologySpec

WORKLOAD = "chaos"  # the workload's name: its runs are chaos-1, chaos-2, ...
HEALTH_WITHIN = 90.0
LOGS_WITHIN = 60.0
# The drills' lowered clocks: a killed worker's task is retried within a minute, not five.
CONFIG = {
    "scheduler.scheduler_health_check_threshold": 20,
    "scheduler.orphaned_tasks_check_interval": 10,
    "scheduler.task_instance_heartbeat_timeout": 30,
    "scheduler.task_instance_heartbeat_timeout_detection_interval": 5,
}


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


def draw_for(step: Chaos, topology: TopologySpec) -> Schedule:
    """Draw the schedule a ``chaos`` step asks for on ``topology`` (raises ChaosError)."""
    topo = topology.build()
    targets = (
        generate.check_targets(step.targets, topo)
        if step.targets
        else generate.default_targets(topo)
    )
    ranges = Ranges(step.min_fault, step.max_fault, step.min_gap, step.max_gap)
    faults = generate.draw(step.seed, step.duration, list(step.faults), targets, topo, ranges)
    asked = {
        "faults": list(step.faults),
        "targets": step.targets,
        "ranges": ranges.__dict__,
        "workload": step.workload,
    }
    return Schedule(
        seed=step.seed,
        duration=step.duration,
        faults=faults,
        workload=generate.parse_workload(step.workload),
        settle=step.settle,
        expect=tuple(step.expect),
        asked=asked,
        topology=topology.model_dump(mode="json"),
    )


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


def to_scenario(schedule: Schedule, name: str, topology: TopologySpec | None = None) -> Scenario:
    """The plain scenario (schema-validated; :func:`runnable` also checks names and DAGs)."""
    if topology is not None:
        schedule = replace(schedule, topology=topology.model_dump(mode="json"))
    scenario = Scenario.model_validate(scenario_data(schedule, name))
    return scenario.attach_schedule(schedule.to_json())


def runnable(schedule: Schedule, name: str) -> Scenario:
    """The plain scenario, fully validated (runs, faults, DAGs by name) and carrying its
    schedule, so running it records the ``chaos`` event."""
    from testbed.scenario.load import check

    return check(to_scenario(schedule, name), f"chaos schedule {name}")


def to_yaml(schedule: Schedule, name: str, description: str = "") -> str:
    """A plain scenario file a person can read, commit and ``testbed run``; its header comment
    says what the schedule is."""
    header = [f"# {line}" for line in schedule.lines()]
    body = yaml.safe_dump(scenario_data(schedule, name, description), sort_keys=False, width=100)
    return "\n".join(header) + "\n" + body


def scenario_name(seed: int, suffix: str = "") -> str:
    return f"chaos-s{seed}" + (f"-{suffix}" if suffix else "")


def from_events(events: list[dict[str, Any]], source: str = "the history") -> Schedule:
    """The schedule a chaos run recorded (its ``chaos`` event)."""
    found = [e for e in events if e.get("kind") == "chaos"]
    if not found:
        raise ScenarioError(
            f"{source}: no chaos schedule recorded (not a chaos run)",
            hint="give the record folder of a `testbed chaos` run, or its history.jsonl",
        )
    return Schedule.from_json(found[0]["schedule"])


def history_path(record: str | Path) -> Path:
    path = Path(record)
    path = path / "history.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise ScenarioError(
            f"{record}: no history.jsonl there",
            hint="give a record folder (.testbed/runs/RUN/scenarios/NAME-N) or its history.jsonl",
        )
    return path


def from_record(record: str | Path) -> Schedule:
    """The schedule recorded in a record folder or its ``history.jsonl``."""
    path = history_path(record)
    return from_events(load_history(path), str(path))
