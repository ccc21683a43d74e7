"""Log checks on a node's own output: a line matching a pattern was written (or was not)
since a fault went in, or since the scenario began. A report that says "nothing was logged"
is judged by ``present: false``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import View
from testbed.core.values import Regex


class LoggedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str
    line: Regex  # searched in each line of the node's output
    after: str | None = None  # a fault's name: only lines since it went in
    present: bool = True  # False: expect no such line


def logged(view: View, p: LoggedParams) -> CheckResult:
    """The node wrote a line matching ``line`` (``present: false``: it wrote none) since the
    fault ``after`` went in, or since the scenario began, as of the last look."""
    fault = view.fault(p.after) if p.after else None
    since = fault["wall"] if fault else None
    seen, why = view.answers("node_log", p.node, lambda o: _of(o, p, since))
    where = f"{p.node}'s output" + (f" since {p.after!r}" if p.after else "")
    if not seen:
        return CheckResult.failed(f"{where} could not be read: {why}")
    last = max(seen, key=lambda v: v["count"]) if p.present else seen[-1]
    m = {"matches": last["count"], "lines_read": last["read"]}
    if last["count"] and p.present:
        return CheckResult.passed(f"{where} has {last['count']}: {last['last'][-1]}", **m)
    if last["count"]:
        return CheckResult.failed(f"{where} has {last['count']}: {last['last'][-1]}", **m)
    if p.present:
        return CheckResult.failed(f"no line of {where} matches {p.line!r}", **m)
    return CheckResult.passed(f"no line of {where} matches {p.line!r}", **m)


def _of(observation: dict, p: LoggedParams, since: float | None) -> bool:
    """A look of this expectation: its pattern, and (``after``) since that fault went in."""
    v = observation.get("value")
    if v is None:
        return True
    return v["line"] == p.line and (since is None or abs(v["since"] - since) < 1e-6)
