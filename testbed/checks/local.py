"""The LocalExecutor's upgrade by ``kill`` (:mod:`testbed.upgrade.local`): what became of the
task instances killed with the scheduler, from its ``killed_cleared`` record — how many were
killed, and how many had to be cleared by hand (the guide's step) rather than run again by
Airflow itself."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import View


class KilledParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_killed: int = 1  # task instances live at the kill (killing nothing proves nothing)
    cleared: int | None = None  # how many had to be cleared (e.g. 0: Airflow ran each again)


def killed_tasks(view: View, p: KilledParams) -> CheckResult:
    """The scheduler's kill ended at least ``min_killed`` task instances, and exactly
    ``cleared`` of them had to be cleared (when given); measures what became of each."""
    records = view.of("killed_cleared")
    if not records:
        return CheckResult.failed(
            "no record of the killed tasks: no `local: kill` upgrade reached its clear step"
        )
    tasks = records[-1].get("tasks") or []
    outcomes = dict(Counter(t["outcome"] for t in tasks))
    cleared = outcomes.get("cleared", 0)
    m = {"killed": len(tasks), "cleared": cleared, "outcomes": outcomes}
    said = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "none"
    if len(tasks) < p.min_killed:
        return CheckResult.failed(f"{len(tasks)} task instance(s) killed, fewer than "
                                  f"{p.min_killed}", **m)  # fmt: skip
    if p.cleared is not None and cleared != p.cleared:
        return CheckResult.failed(f"{cleared} cleared, not {p.cleared}: {said}", **m)
    return CheckResult.passed(f"{len(tasks)} task instance(s) killed: {said}", **m)
