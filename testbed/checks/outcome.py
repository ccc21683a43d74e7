"""The outcome check: how a run's instances of one task ended, on which workers, and (for failed
ones) what their logs say. A drill that breaks something on one node judges the symptom a user
would see there: every read on the drifted worker succeeded, every read through the drifted
api-server failed with "not found"."""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from testbed.checks.result import CheckResult
from testbed.checks.view import View, ti_label
from testbed.core.values import Regex
from testbed.scenario.when import ANY_TI_STATE


class OutcomeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str
    task: str | None = None  # none: every task of the run
    state: Literal["success", "failed"] | None = None  # every instance of the task ended so
    # host names, or globs (``worker-1-*``: a pod of the Deployment worker-1 on Kubernetes)
    hosts: list[str] | None = None  # each of these ran at least one of them
    host: str | None = None  # judge only the instances that ran on this node (at least one)
    error: Regex | None = None  # with failed: a line of each failed attempt's log matches
    # at least one instance (on ``host``) was seen in this state on its way (up_for_reschedule)
    passed_through: Literal[ANY_TI_STATE] | None = None  # type: ignore[valid-type]
    max_try: int | None = Field(default=None, ge=1)  # every instance ended within this try

    @model_validator(mode="after")
    def _something(self) -> OutcomeParams:
        if self.state is None and self.passed_through is None:
            raise ValueError("give 'state' (how each instance ended) or 'passed_through'")
        if self.error is not None and self.state != "failed":
            raise ValueError("'error' is what a failed attempt's log says: give 'state: failed'")
        return self


def _error_lines(view: View, p: OutcomeParams) -> dict[tuple, list[str]]:
    """The recorded log lines of each failed attempt of the run (``task_log`` observations)."""
    return {
        (o["value"]["task_id"], o["value"]["map_index"], o["value"]["try_number"]): o["value"][
            "lines"
        ]
        for o in view.observations("task_log", p.run)
        if not o.get("error") and o["value"].get("pattern") in (None, p.error)
    }


def task_outcome(view: View, p: OutcomeParams) -> CheckResult:
    """Every instance of ``task`` in the run (on ``host``) ended ``state`` (within ``max_try``),
    ``hosts`` each ran one, each failed attempt's log has a line matching ``error``, and one
    was seen ``passed_through`` a state on its way."""
    if view.run(p.run) is None:
        return CheckResult.failed(f"run {p.run!r} was never triggered")
    series = [[e["value"] for e in s] for (t, _), s in sorted(view.task_series(p.run).items())]
    series = [vals for vals in series if p.task in (None, vals[-1]["task_id"])]
    tis = [vals[-1] for vals in series if _on(vals[-1], p.host)]
    where = f" on {p.host}" if p.host else ""
    problems = _ended(p, tis, where) if p.state else []
    if p.passed_through and not any(_passed(v, p) for vals in series for v in vals):
        problems.append(f"no instance{where} was seen {p.passed_through}")
    ran = {t.get("hostname") for t in tis}
    problems += [
        f"no instance ran on {h}" for h in p.hosts or [] if not fnmatch.filter(ran - {None}, h)
    ]
    first = _first_error(view, p, tis, problems)
    m = {"hosts": sorted(h for h in ran if h), "first_error": first and first[-200:]}
    if problems:
        return CheckResult.failed(f"{len(problems)} problem(s): {'; '.join(problems[:6])}", **m)
    said = f" ({first[-160:]})" if first else ""
    if not p.state:
        return CheckResult.passed(f"an instance{where} was seen {p.passed_through}", **m)
    what = f"{len(tis)} {p.task}" if p.task else f"{len(tis)} task instance(s)"
    return CheckResult.passed(f"all {what} ended {p.state} on {', '.join(m['hosts'])}{said}", **m)


def _on(v: dict[str, Any], host: str | None) -> bool:
    """The instance ran on ``host`` (a name or a glob; None: anywhere)."""
    return host is None or fnmatch.fnmatchcase(v.get("hostname") or "", host)


def _passed(v: dict[str, Any], p: OutcomeParams) -> bool:
    return v["state"] == p.passed_through and _on(v, p.host)


def _ended(p: OutcomeParams, tis: list[dict], where: str) -> list[str]:
    if not tis:
        return [f"no instance of {p.task or 'any task'} in run {p.run}{where}"]
    out = [
        f"{ti_label(t)} on {t.get('hostname')} is {t['state']}"
        for t in tis
        if t["state"] != p.state
    ]
    if p.max_try is not None:
        out += [
            f"{ti_label(t)} needed try {t['try_number']}"
            for t in tis
            if t["try_number"] > p.max_try
        ]
    return out


def _first_error(view: View, p: OutcomeParams, tis: list[dict], problems: list[str]) -> str | None:
    """Each failed attempt's log line matching ``error`` (a problem added where none); the first."""
    if p.error is None or p.state != "failed":
        return None
    logs, pattern, first = _error_lines(view, p), re.compile(p.error, re.I), None
    for t in tis:
        lines = logs.get((t["task_id"], t["map_index"], t["try_number"]))
        hit = next((ln for ln in lines or [] if pattern.search(ln)), None)
        if lines is None:
            problems.append(f"the log of {ti_label(t)} was not read")
        elif hit is None:
            problems.append(f"no /{p.error}/ in the log of {ti_label(t)}")
        first = first or hit
    return first
