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

The schedule itself and its plain steps are in :mod:`testbed.scenario.chaos_expand` (the
scenario model expands a ``chaos`` step with them); here: the scenario, its YAML, a record's
schedule.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from testbed.core.errors import ScenarioError
from testbed.core.history import load as load_history
from testbed.scenario.chaos_expand import Schedule, scenario_data
from testbed.scenario.load import check
from testbed.scenario.model import Scenario, TopologySpec

# The drills' lowered clocks: a killed worker's task is retried within a minute, not five.
CONFIG = {
    "scheduler.scheduler_health_check_threshold": 20,
    "scheduler.orphaned_tasks_check_interval": 10,
    "scheduler.task_instance_heartbeat_timeout": 30,
    "scheduler.task_instance_heartbeat_timeout_detection_interval": 5,
}


def to_scenario(schedule: Schedule, name: str, topology: TopologySpec | None = None) -> Scenario:
    """The plain scenario (schema-validated; :func:`runnable` also checks names and DAGs)."""
    if topology is not None:
        schedule = replace(
            schedule, topology=topology.model_dump(mode="json", exclude_defaults=True)
        )
    scenario = Scenario.model_validate(scenario_data(schedule, name))
    return scenario.attach_schedule(schedule.to_json())


def runnable(schedule: Schedule, name: str) -> Scenario:
    """The plain scenario, fully validated (runs, faults, DAGs by name) and carrying its
    schedule, so running it records the ``chaos`` event."""
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
