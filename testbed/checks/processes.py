"""Process checks: whether a process of a node whose command line matches a pattern runs (a
task's child that should have ended with it, a task process that should have been killed)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import View
from testbed.core.values import Regex


class ProcessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str
    cmdline: Regex  # searched in each process's command line (the process faults' `cmdline:`)
    running: bool = True  # False: expect none to run


def process_running(view: View, p: ProcessParams) -> CheckResult:
    """A matching process runs (``running: false``: none does) at the last look of the node's
    processes (``within``: at some look before T; ``during``: at every look of the window)."""
    seen, why = view.answers("processes", p.node, lambda o: _of(o, p))
    if not seen:
        return CheckResult.failed(f"the processes of {p.node} could not be read: {why}")
    wrong = [v for v in seen if bool(v["pids"]) != p.running]
    m = {"looks": len(seen), "looks_not_as_expected": len(wrong)}
    last = wrong[-1] if view.since is not None and wrong else seen[-1]  # `during`: every look
    what = f"process of {p.node} matching {p.cmdline!r}"
    lines = "; ".join(line or "?" for line in last["lines"])[:300]
    if last["pids"] and not p.running:
        return CheckResult.failed(f"a {what} still runs: {lines}", pids=last["pids"], **m)
    if not last["pids"] and p.running:
        return CheckResult.failed(f"no {what} runs", **m)
    if p.running:
        return CheckResult.passed(f"a {what} runs: {lines}", pids=last["pids"], **m)
    return CheckResult.passed(f"no {what} runs", **m)


def _of(observation: dict, p: ProcessParams) -> bool:
    return observation.get("value") is None or observation["value"]["cmdline"] == p.cmdline
