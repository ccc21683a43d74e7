"""Health checks: a fault is detected (health flips, or the endpoint stops answering), health
recovers after the heal, health stays good over a window, and whether a probe answered at all.

Classification of one observation: ``no answer`` (timeout / connection error), ``unhealthy``
(the scheduler health server's non-200, or the api-server's component status not "healthy"),
or ``healthy``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from testbed.checks.result import CheckResult
from testbed.checks.view import Event, View, step_windows

Probe = Literal["api_health", "scheduler_health", "jobs_check"]


class HealthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    probe: Probe = "api_health"
    target: str | None = None  # node for scheduler_health / jobs_check (default: any)
    component: str = "scheduler"  # which component of the api-server's answer
    after: str | None = None  # the fault whose inject (flip) or heal (recover) starts the clock
    max_delay: float | None = None  # seconds from that event; None: only the window's T
    # a probe that gives no answer counts as detection (flip), and as not healthy (stable);
    # false when the claim is about a component the api-server reports on, not the api-server
    no_answer_counts: bool = True
    max_age: float | None = None  # `healthy` on api_health: the heartbeat is at most this old


def classify(obs: Event, component: str = "scheduler") -> str:
    if obs.get("error"):
        return "no answer"
    value: Any = obs.get("value") or {}
    if obs["probe"] == "api_health":
        status = (value.get(component) or {}).get("status")
        return "healthy" if status == "healthy" else "unhealthy"
    if obs["probe"] == "scheduler_health":
        return "healthy" if value.get("status") == 200 else "unhealthy"
    return "healthy" if value.get("ok") else "unhealthy"


def _start(view: View, p: HealthParams, phase: str) -> tuple[float | None, str | None]:
    if p.after is None:
        return view.since, None
    ev = view.fault(p.after, phase)
    if ev is None:
        return None, f"fault {p.after!r} has no {phase} event in the history"
    return ev["mono"], None


def _first(view: View, p: HealthParams, wanted: set[str], phase: str, verb: str) -> CheckResult:
    start, problem = _start(view, p, phase)
    if problem:
        return CheckResult.failed(problem)
    seen = view.observations(p.probe, p.target, after=start)
    for obs in seen:
        cls = classify(obs, p.component)
        if cls in wanted:
            delay = round(obs["mono"] - start, 3) if start is not None else None
            if p.max_delay is not None and delay is not None and delay > p.max_delay:
                return CheckResult.failed(
                    f"{p.probe} {verb} ({cls}) after {delay}s, later than {p.max_delay:g}s",
                    delay=delay,
                    detected_by=cls,
                )
            return CheckResult.passed(
                f"{p.probe} {verb} ({cls})" + (f" {delay}s after {p.after}" if p.after else ""),
                delay=delay,
                detected_by=cls,
            )
    last = classify(seen[-1], p.component) if seen else "nothing observed"
    return CheckResult.failed(f"{p.probe} never {verb}: {len(seen)} observations, last {last}")


def health_flipped(view: View, p: HealthParams) -> CheckResult:
    """Healthy before the fault, then unhealthy (or silent) after it: a detection."""
    wanted = {"unhealthy", "no answer"} if p.no_answer_counts else {"unhealthy"}
    start, problem = _start(view, p, "inject")
    if problem is None and start is not None:
        before = [o for o in view.observations(p.probe, p.target) if o["mono"] < start]
        if not before or classify(before[-1], p.component) != "healthy":
            last = classify(before[-1], p.component) if before else "nothing observed"
            return CheckResult.failed(f"{p.probe} was not healthy before {p.after} ({last})")
    return _first(view, p, wanted, "inject", "flipped")


def health_recovered(view: View, p: HealthParams) -> CheckResult:
    """Healthy again after the fault's heal."""
    return _first(view, p, {"healthy"}, "heal", "recovered")


def healthy(view: View, p: HealthParams) -> CheckResult:
    """The latest observation is healthy (a precondition before injecting a fault)."""
    seen = view.observations(p.probe, p.target)
    if not seen:
        return CheckResult.failed(f"no {p.probe} observation yet")
    state = classify(seen[-1], p.component)
    if state != "healthy":
        return CheckResult.failed(f"{p.probe} is {state}")
    if p.max_age is not None:
        age = heartbeat_age(seen[-1], p.component)
        if age is None or age > p.max_age:
            return CheckResult.failed(
                f"{p.component} heartbeat is {age}s old, not at most {p.max_age:g}s", age=age
            )
        return CheckResult.passed(f"{p.probe} is healthy, heartbeat {age}s old", age=age)
    return CheckResult.passed(f"{p.probe} is healthy")


def heartbeat_age(obs: Event, component: str) -> float | None:
    """Seconds between the component's latest heartbeat (api-server's answer) and the probe."""
    value = (obs.get("value") or {}).get(component) or {}
    stamp = value.get(f"latest_{component}_heartbeat")
    if obs["probe"] != "api_health" or not stamp:
        return None
    return round(obs["wall"] - datetime.fromisoformat(stamp).timestamp(), 1)


def health_stable(view: View, p: HealthParams) -> CheckResult:
    """Always (over the window): every observation healthy, and there was at least one. With
    ``no_answer_counts: false`` a probe that gave no answer says nothing either way: it is
    left out (and counted), and at least one answer is still needed."""
    seen = view.observations(p.probe, p.target)
    silent = 0 if p.no_answer_counts else sum(1 for o in seen if o.get("error"))
    if silent:
        seen = [o for o in seen if not o.get("error")]
    skipped = f" ({silent} without an answer left out)" if silent else ""
    bad = [o for o in seen if classify(o, p.component) != "healthy"]
    if not seen:
        return CheckResult.failed(f"no {p.probe} answer in the window{skipped}")
    if bad:
        return CheckResult.failed(
            f"{len(bad)} of {len(seen)} {p.probe} observations not healthy "
            f"(first: {classify(bad[0], p.component)}){skipped}",
            bad=len(bad),
            total=len(seen),
            no_answer=silent,
        )
    return CheckResult.passed(
        f"all {len(seen)} {p.probe} observations healthy{skipped}",
        total=len(seen),
        no_answer=silent,
    )


class AfterFaultParams(HealthParams):
    after: str  # required: a flip or a recovery is measured from a fault's inject or heal


class AnsweredParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    probe: Probe = "scheduler_health"
    target: str | None = None
    fault: str | None = None  # the observations between this fault's inject and its heal (or now)
    step: Literal["upgrade", "migrate"] | None = None  # or: while the last such step ran
    # with step upgrade: only while it rolled this node (a role on Kubernetes), from its first
    # action on it to its last (e.g. the api-server's handover, not its peers' restarts)
    rolled: str | None = None
    # Probes in a row with no answer before the target counts as down (a load balancer's
    # unhealthy threshold: AWS ALB's default is 2, a Kubernetes readiness probe's 3). 1: any.
    unhealthy_threshold: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_window(self) -> AnsweredParams:
        if (self.fault is None) == (self.step is None):
            raise ValueError("give either 'fault' (its time in force) or 'step' (e.g. upgrade)")
        if self.rolled is not None and self.step != "upgrade":
            raise ValueError("'rolled' narrows an upgrade step's window: give step: upgrade")
        return self


def _window(view: View, p: AnsweredParams) -> tuple[float, float, str] | str:
    """(start, end, what) of the window, or why there is none."""
    if p.fault is not None:
        inject, heal = view.fault(p.fault, "inject"), view.fault(p.fault, "heal")
        if inject is None:
            return f"fault {p.fault!r} was never injected"
        return inject["mono"], heal["mono"] if heal else float("inf"), p.fault
    windows = step_windows(view.of("step"), p.step)
    if not windows:
        return f"no {p.step} step ran"
    start, end = windows[-1]
    t0, t1 = start["mono"], end["mono"] if end else float("inf")
    if p.rolled is None:
        return t0, t1, f"the {p.step}"
    mine = [e for e in view.of("upgrade") if e.get("node") == p.rolled and t0 <= e["mono"] <= t1]
    if not mine:
        return f"the {p.step} never rolled {p.rolled}"
    return mine[0]["mono"], mine[-1]["mono"], f"the roll of {p.rolled}"


def probe_answered(view: View, p: AnsweredParams) -> CheckResult:
    """Did the probe answer (in time) for the whole time the fault was in force (or the step
    ran, e.g. the API throughout a rolling upgrade)? With ``unhealthy_threshold: N`` the target
    counts as down only at N unanswered probes in a row, as a load balancer sees a backend."""
    window = _window(view, p)
    if isinstance(window, str):
        return CheckResult.failed(window)
    start, end, what = window
    seen = view.observations(p.probe, p.target, after=start)
    seen = [o for o in seen if o["mono"] < end]
    silent = [o for o in seen if o.get("error")]
    streak = _longest_silence(seen)
    m = {"answered": len(seen) - len(silent), "no_answer": len(silent), "total": len(seen)}
    m["longest_silence"] = len(streak)
    if not seen:
        return CheckResult.failed(f"no {p.probe} observation during {what}", **m)
    if not silent:
        return CheckResult.passed(f"{p.probe} answered all {len(seen)} times during {what}", **m)
    said = f"{p.probe} gave no answer {len(silent)} of {len(seen)} times during {what}"
    first = f"(first: {streak[0]['error']})"  # of the longest run (of the first, if all are 1)
    if len(streak) >= p.unhealthy_threshold:
        in_a_row = f", {len(streak)} in a row " if p.unhealthy_threshold > 1 else " "
        return CheckResult.failed(f"{said}{in_a_row}{first}", **m)
    return CheckResult.passed(f"{said}, never {p.unhealthy_threshold} in a row {first}", **m)


def _longest_silence(seen: list[dict]) -> list[dict]:
    """The longest run of observations in a row that got no answer (the first such run)."""
    longest: list[dict] = []
    run: list[dict] = []
    for o in seen:
        run = [*run, o] if o.get("error") else []
        if len(run) > len(longest):
            longest = run
    return longest
