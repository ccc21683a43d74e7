"""The hang-diagnostics check: a capture of a node (automatic, on a health flip or a failed
step) shows, in a process's main-thread stack, a frame that says where it is stuck, e.g. a
scheduler blocked inside libpq (``PQexec``) while its database link is stalled."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import View
from testbed.core.values import Regex


class StackParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str  # e.g. "scheduler"
    frame: Regex  # one main-thread frame must match it, e.g. "PQexec|PQgetResult"
    after: str | None = None  # only captures after this fault's inject


def stack_shows(view: View, p: StackParams) -> CheckResult:
    """A diagnostics capture of the node has a main-thread frame matching ``frame``."""
    start = view.fault(p.after)["mono"] if p.after and view.fault(p.after) else None
    if p.after and start is None:
        return CheckResult.failed(f"fault {p.after!r} has no inject event in the history")
    caps = [
        e
        for e in view.of("diagnostics")
        if e.get("node") == p.node and (start is None or e["mono"] >= start)
    ]
    if not caps:
        return CheckResult.failed(f"no diagnostics of {p.node} were captured")
    pattern = re.compile(p.frame)
    for cap in caps:
        for proc, frames in (cap.get("main_frames") or {}).items():
            depth = next((i for i, f in enumerate(frames) if pattern.search(f)), None)
            if depth is not None:
                where = next((f for f in frames[depth:] if "airflow/" in f), "")
                return CheckResult.passed(
                    f"{p.node}: {frames[depth]}"
                    + (f" under {where}" if where else "")
                    + f" in {proc.rsplit('/', 1)[-1]} ({cap.get('path')})",
                    frame=frames[depth],
                    depth=depth,
                    process=proc,
                    path=cap.get("path"),
                    reason=cap.get("reason"),
                    airflow_frame=where or None,
                    delay=round(cap["mono"] - start, 1) if start is not None else None,
                )
    tops = [
        f"{proc}: {frames[:1]}"
        for c in caps
        for proc, frames in (c.get("main_frames") or {}).items()
    ]
    return CheckResult.failed(
        f"{len(caps)} capture(s) of {p.node}, none with a main-thread frame matching "
        f"{p.frame!r}; innermost frames: {'; '.join(tops)[:300] or 'none (no stacks)'}"
    )
