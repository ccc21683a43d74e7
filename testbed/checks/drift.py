"""The drift check: do the cluster's Airflow nodes run with the same configuration, DAG files and
Airflow packages (the production guide's "every node ... the same configuration and DAGs")?
Judged on the ``node_config`` snapshots (:mod:`testbed.observe.node_config`) by
:func:`testbed.drift.compare`; ``drift: true`` expects a named item to differ, on named nodes
(a drill that injected drift shows the audit finds it)."""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, model_validator

from testbed import drift as D
from testbed.checks.result import CheckResult
from testbed.checks.view import View

STALE = 150.0  # s: older than the newest by this, not of the last look (a look: <= 2 x 60 s)


class DriftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drift: bool = False  # false: the nodes agree; true: they differ on `item`
    item: str | None = None  # a glob over the items judged: core.fernet_key, long_task.py
    odd: list[str] | None = None  # with drift: exactly these nodes are the odd ones out

    @model_validator(mode="after")
    def _odd_needs_drift(self) -> DriftParams:
        if self.odd is not None and not self.drift:
            raise ValueError("'odd' names the nodes out of step: give 'drift: true' with it")
        return self


def _last_look(view: View) -> tuple[dict[str, dict], dict[str, str]]:
    """Each node's latest snapshot of the last look (read ones, and why others were not)."""
    latest: dict[str, dict] = {}
    for o in view.observations("node_config"):
        latest[o["target"]] = o
    if not latest:
        return {}, {}
    newest = max(o["mono"] for o in latest.values())
    recent = {n: o for n, o in latest.items() if o["mono"] >= newest - STALE}
    read = {n: o["value"] for n, o in recent.items() if not o.get("error")}
    return read, {n: o["error"] for n, o in recent.items() if o.get("error")}


def config_drift(view: View, p: DriftParams) -> CheckResult:
    """The nodes agree on their configuration, DAG files and packages (``drift: true``: they
    differ on ``item``, with ``odd`` the odd ones out)."""
    read, unread = _last_look(view)
    if not read:
        return CheckResult.failed(f"no node's configuration was read ({unread or 'never'})")
    report = D.compare(read, unread)
    judged = [d for d in report.differences if p.item is None or fnmatch.fnmatch(d.item, p.item)]
    m = {"nodes": report.nodes, "differences": [d.line() for d in report.differences][:20]}
    if not p.drift:
        problems = [d.line() for d in judged] + [f"{n}: not read ({w})" for n, w in unread.items()]
        if problems:
            return CheckResult.failed(f"{len(judged)} drift(s): {'; '.join(problems[:4])}", **m)
        return CheckResult.passed(f"{len(read)} nodes agree ({', '.join(report.nodes)})", **m)
    if not judged:
        what = p.item or "anything"
        return CheckResult.failed(f"no drift on {what} among {', '.join(report.nodes)}", **m)
    hits = [d for d in judged if p.odd is None or d.odd == sorted(p.odd)]
    if not hits:
        seen = "; ".join(f"{d.item}: odd {', '.join(d.odd)}" for d in judged[:4])
        return CheckResult.failed(f"drift, but not on {', '.join(p.odd or [])} alone: {seen}", **m)
    return CheckResult.passed(f"drift found: {'; '.join(d.line() for d in hits[:4])}", **m)
