"""The dry-run plan: what a scenario will do, step by step, without booting anything. Each
step's line is its own (``describe()`` on the step models, :mod:`testbed.scenario.steps`)."""

from __future__ import annotations

from testbed.scenario.model import Scenario, Step


def describe_step(step: Step) -> str:
    return step.describe()


def plan(s: Scenario) -> list[str]:
    t = s.topology
    lines = [
        f"scenario {s.name}: {' '.join(s.description.split())}".rstrip(": "),
        f"topology: Airflow {t.airflow_version}, {t.workers} Celery worker(s)",
    ]
    lines += [f"  config {k} = {v}" for k, v in t.config.items()]
    lines += [f"{i:2}. {describe_step(step)}" for i, step in enumerate(s.steps)]
    lines.append(f"then: heal every fault, heal audit; no step starts after {s.timeout:g}s")
    return lines
