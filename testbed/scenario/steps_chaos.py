"""The ``chaos`` step: seeded random faults under a workload, drawn by :mod:`testbed.chaos`;
validating a scenario replaces it with the plain steps it stands for
(see ``Scenario._expand_chaos`` in :mod:`testbed.scenario.model`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from testbed.core.values import Duration
from testbed.scenario import chaos_generate as generate
from testbed.scenario.base import StepKind
from testbed.scenario.chaos_expand import Schedule
from testbed.scenario.chaos_generate import KINDS as CHAOS_KINDS
from testbed.scenario.topology_spec import TopologySpec

ChaosKind = Literal[CHAOS_KINDS]  # type: ignore[valid-type]


class Chaos(StepKind):
    """Seeded random chaos: faults drawn from ``seed`` (kind, target, how long, the quiet gap
    before it) over ``duration`` while ``workload`` (``DAG[:every]``, or null) keeps triggering
    runs; then every run must end, logs be in MinIO, health recover (see
    :mod:`testbed.chaos.schedule` for the invariants; ``expect`` adds more). It is a whole
    scenario: the only step. Validation draws the schedule and puts the plain steps in its
    place (``testbed run --dry-run`` prints them); the same seed draws the same schedule."""

    action: Literal["chaos"] = "chaos"
    seed: int
    duration: Duration = 600.0
    # default: hang, kill, restart, link (Docker); pod_delete, link (Kubernetes)
    faults: list[ChaosKind] = ["hang", "kill", "restart", "link"]
    targets: list[str] | None = None  # nodes and links; default: testbed.scenario.chaos_generate
    workload: str | None = "many_tasks:10s"
    min_fault: Duration = Field(5.0, ge=1)
    max_fault: Duration = 30.0
    min_gap: Duration = 5.0
    max_gap: Duration = 20.0
    settle: Duration = 240.0  # after the last heal: how long runs may take to end
    expect: list[dict[str, Any]] = []  # more invariants, as expect steps' fields

    def bound(self) -> float:
        return self.duration

    def draw(self, topology: TopologySpec) -> Schedule:
        """Draw the schedule this step asks for on ``topology`` (raises ChaosError)."""
        topo = topology.build()
        targets = (
            generate.check_targets(self.targets, topo)
            if self.targets
            else generate.default_targets(topo)
        )
        ranges = generate.Ranges(self.min_fault, self.max_fault, self.min_gap, self.max_gap)
        named = "faults" in self.model_fields_set
        kinds = list(self.faults) if named else list(generate.default_kinds(topo))
        faults = generate.draw(self.seed, self.duration, kinds, targets, topo, ranges)
        asked = {
            "faults": kinds,
            "targets": self.targets,
            "ranges": ranges.__dict__,
            "workload": self.workload,
        }
        return Schedule(
            seed=self.seed,
            duration=self.duration,
            faults=faults,
            workload=generate.parse_workload(self.workload),
            settle=self.settle,
            expect=tuple(self.expect),
            asked=asked,
            topology=topology.model_dump(mode="json", exclude_defaults=True),
        )
