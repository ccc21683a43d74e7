"""The dry-run plan: what a scenario will do, step by step, without booting anything. Each
step's line is its own (``describe()`` on the step models, :mod:`testbed.scenario.steps`)."""

from __future__ import annotations

from testbed.scenario.compress import compress
from testbed.scenario.model import Scenario, Step


def describe_step(step: Step) -> str:
    return step.describe()


def plan(s: Scenario) -> list[str]:
    """The plan as the run will carry it out: the topology that boots, and each step in
    compressed time (testbed.scenario.compress) when the topology has a timescale."""
    topology = s.topology.build()
    lines = [
        f"scenario {s.name}: {' '.join(s.description.split())}".rstrip(": "),
        f"topology: {topology.describe()}",
    ]
    lines += [f"  config {k} = {v}" for k, v in s.topology.config.items()]
    steps = compress(s, topology.timescale).steps
    lines += [f"{i:2}. {describe_step(step)}" for i, step in enumerate(steps)]
    lines.append(f"then: heal every fault, heal audit; no step starts after {s.timeout:g}s")
    return lines
