"""From a record's events to what the timeline draws, in seconds since the scenario started:
lanes (one per probe and target, per task instance, per node's container, per other event kind)
of coloured marks, fault bands (inject -> heal, or to the end), step markers and expectation marks.

A probe polled continuously (health, jobs, task instances) is drawn as spans, each observation
holding until the next one (at most ``MAX_HOLD`` seconds); consecutive equal observations merge.
Sparse probes and other events are points. Pure data: no drawing here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from testbed.checks.health import classify
from testbed.report.record import Event, Record

MAX_HOLD = 10.0  # a span never claims more than this without a new observation
SPAN_PROBES = ("api_health", "scheduler_health", "jobs_check", "scheduler_job", "task_instance")
PROBE_ORDER = (*SPAN_PROBES, "remote_log", "log_event", "config")
DRAWN_KINDS = {"scenario", "step", "fault", "expectation", "observation", "container"}
TI_STATES = {
    "success": "ok",
    "failed": "bad",
    "upstream_failed": "bad",
    "running": "running",
}
CONTAINER_OK = {"running", "ready"}
CONTAINER_PENDING = {"started", "created", "restarting"}


@dataclass
class Mark:
    start: float
    end: float | None  # None: a point
    state: str
    label: str
    tip: str
    count: int = 1


@dataclass
class Lane:
    title: str
    group: str  # "probe", "task", "container", "event"
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Band:
    name: str
    fault: str
    target: str
    start: float
    end: float
    healed: bool
    heal_failures: list[tuple[float, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        text = f"{self.name}: {self.fault} → {self.target}"
        return text if self.healed else f"{text} (never healed)"


@dataclass
class StepMark:
    index: Any
    action: str
    name: str | None
    start: float
    end: float | None
    error: str | None

    @property
    def label(self) -> str:
        return f"#{self.index} {self.action}" + (f" {self.name}" if self.name else "")


@dataclass
class ExpectMark:
    number: int
    at: float
    name: str
    check: str
    ok: bool
    finding: bool
    detail: str
    measurements: dict[str, Any]


def short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- observations -------------------------------------------------------------------------------
def observation_state(e: Event) -> tuple[str, str]:
    """(state, short label) of one observation."""
    error, value, probe = e.get("error"), e.get("value"), e.get("probe")
    if error:
        no_answer = error == "timeout" or str(error).startswith("connection")
        return ("noanswer", "no answer") if no_answer else ("error", "error")
    if probe in ("api_health", "scheduler_health", "jobs_check") and isinstance(value, dict):
        healthy = classify(e) == "healthy"
        label = str(value.get("status", "")) if probe == "scheduler_health" else ""
        return ("ok" if healthy else "bad"), label or ("healthy" if healthy else "unhealthy")
    if probe == "task_instance" and isinstance(value, dict):
        state = str(value.get("state"))
        return TI_STATES.get(state, "pending"), f"{state} try {value.get('try_number')}"
    if probe == "scheduler_job" and isinstance(value, list):
        ids = ",".join(str(j.get("id")) for j in value if isinstance(j, dict))
        return ("ok", f"job {ids}") if value else ("bad", "no job")
    if probe == "remote_log" and isinstance(value, dict):
        return ("ok" if value.get("present") else "bad"), f"try {value.get('try_number')}"
    return "info", str(probe)


def observation_lane_key(e: Event, run_names: dict[str, str]) -> tuple[int, str, str]:
    """(order, title, group) of the lane an observation belongs to."""
    probe, target, value = str(e.get("probe")), str(e.get("target")), e.get("value")
    order = PROBE_ORDER.index(probe) if probe in PROBE_ORDER else len(PROBE_ORDER)
    if probe == "task_instance" and isinstance(value, dict):
        run = run_names.get(str(value.get("run_id")), str(value.get("run_id")))
        idx = value.get("map_index", -1)
        task = f"{value.get('task_id')}" + (f"[{idx}]" if idx not in (-1, None) else "")
        return order, f"task {run}.{task}", "task"
    return order, f"{probe} · {target}", "probe"


def observation_lanes(rec: Record) -> list[Lane]:
    run_names = {str(e.get("run_id")): str(e.get("name")) for e in rec.of("trigger")}
    grouped: dict[tuple[int, str, str], list[Event]] = {}
    for e in rec.of("observation"):
        grouped.setdefault(observation_lane_key(e, run_names), []).append(e)
    lanes = []
    for (_, title, group), obs in sorted(grouped.items(), key=lambda kv: natural(kv[0][:2])):
        spans = obs[0].get("probe") in SPAN_PROBES
        lanes.append(Lane(title, group, observation_marks(rec, obs, spans)))
    return lanes


def natural(key: tuple[int, str]) -> tuple:
    """Sort ``work[10]`` after ``work[9]``."""
    order, title = key
    return order, [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", title)]


def observation_marks(rec: Record, obs: list[Event], spans: bool) -> list[Mark]:
    marks: list[Mark] = []
    times = [rec.t(e) for e in obs]
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    last_hold = min(gaps[len(gaps) // 2] if gaps else 1.0, MAX_HOLD)  # the typical interval
    for i, e in enumerate(obs):
        state, label = observation_state(e)
        tip = f"{e.get('probe')} {e.get('target')} at {times[i]:.1f}s: " + short(
            e.get("error") or e.get("value")
        )
        end = None
        if spans:
            nxt = times[i + 1] if i + 1 < len(obs) else times[i] + max(last_hold, 0.5)
            end = min(nxt, times[i] + MAX_HOLD)
        marks.append(Mark(times[i], end, state, label, tip))
    return merge(marks)


def merge(marks: list[Mark]) -> list[Mark]:
    """Consecutive spans of one state and label that touch become one."""
    out: list[Mark] = []
    for m in marks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and m.end is not None
            and prev.end is not None
            and (prev.state, prev.label) == (m.state, m.label)
            and abs(prev.end - m.start) < 1e-6
        ):
            prev.end, prev.count = m.end, prev.count + 1
            continue
        out.append(m)
    for m in out:
        if m.count > 1:
            m.tip += f" (×{m.count} until {m.end:.1f}s)"
    return out


# -- containers and other events ----------------------------------------------------------------
def container_state(state: str) -> str:
    if state in CONTAINER_OK:
        return "ok"
    if state == "paused":
        return "paused"
    return "pending" if state in CONTAINER_PENDING else "bad"


def container_lanes(rec: Record) -> list[Lane]:
    per_node: dict[str, list[Event]] = {}
    for e in rec.of("container"):
        per_node.setdefault(str(e.get("node")), []).append(e)
    lanes = []
    for node, changes in sorted(per_node.items()):
        marks = []
        for i, e in enumerate(changes):
            end = rec.t(changes[i + 1]) if i + 1 < len(changes) else rec.t_end
            state = str(e.get("state"))
            tip = f"{node} {state} from {rec.t(e):.1f}s"
            marks.append(Mark(rec.t(e), max(end, rec.t(e)), container_state(state), state, tip))
        lanes.append(Lane(f"container {node}", "container", marks))
    return lanes


def event_label(e: Event) -> str:
    for key in ("name", "node", "index", "target"):
        if e.get(key) is not None:
            return f"{e['kind']} {e[key]}"
    return e["kind"]


def event_lanes(rec: Record) -> list[Lane]:
    """One lane per kind the timeline has no other place for (triggers, resets, unknown kinds)."""
    lanes: dict[str, Lane] = {}
    for e in rec.events:
        if e["kind"] in DRAWN_KINDS:
            continue
        state = "bad" if e["kind"] in ("aborted", "interrupted") or e.get("problems") else "info"
        fields_ = {k: v for k, v in e.items() if k not in ("seq", "kind", "wall", "mono")}
        tip = f"{e['kind']} at {rec.t(e):.1f}s: {short(fields_)}"
        lane = lanes.setdefault(e["kind"], Lane(e["kind"], "event"))
        lane.marks.append(Mark(rec.t(e), None, state, event_label(e), tip))
    return list(lanes.values())


def build_lanes(rec: Record) -> list[Lane]:
    return observation_lanes(rec) + container_lanes(rec) + event_lanes(rec)


# -- faults, steps, expectations ----------------------------------------------------------------
def fault_bands(rec: Record) -> list[Band]:
    """Each inject to the next heal of the same name (or the end: never healed)."""
    bands: list[Band] = []
    open_: dict[str, Band] = {}
    for e in rec.of("fault"):
        name, phase = str(e.get("name")), e.get("phase")
        if phase == "inject":
            band = Band(name, str(e.get("fault")), str(e.get("target")), rec.t(e), rec.t_end, False)
            bands.append(band)
            open_[name] = band
        elif phase == "heal" and name in open_:
            band = open_.pop(name)
            band.end, band.healed = rec.t(e), True
        elif phase == "heal_failed" and name in open_:
            open_[name].heal_failures.append((rec.t(e), str(e.get("error"))))
    return bands


def step_marks(rec: Record) -> list[StepMark]:
    steps: dict[Any, StepMark] = {}
    for e in rec.of("step"):
        key = (e.get("index"), e.get("action"))
        if e.get("phase") == "start" or key not in steps:
            steps[key] = StepMark(
                e.get("index"), str(e.get("action")), e.get("name"), rec.t(e), None, None
            )
        if e.get("phase") == "end":
            steps[key].end, steps[key].error = rec.t(e), e.get("error")
    return list(steps.values())


def expectation_marks(rec: Record) -> list[ExpectMark]:
    return [
        ExpectMark(
            number=i,
            at=rec.t(e),
            name=str(e.get("name")),
            check=str(e.get("check")),
            ok=bool(e.get("ok")),
            finding=bool(e.get("finding")),
            detail=str(e.get("detail", "")),
            measurements=e.get("measurements") or {},
        )
        for i, e in enumerate(rec.of("expectation"), start=1)
    ]
