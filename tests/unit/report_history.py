"""A hand-written scenario record for the report tests: realistic events of a scheduler-hang
drill with a fault healed, one never healed (its heal failed), probes that time out, a failed
expectation, a finding, a failed step and abort, unknown event kinds and hostile text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HOSTILE = '<script>alert("x")</script> & more'
ODD_KIND = "<img src=x onerror=alert(1)>"
T0_MONO, T0_WALL = 5000.0, 1_750_000_000.0


class Recorder:
    """Builds events as ``History.append`` writes them, at chosen times since the start."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, t: float, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"seq": 0, "kind": kind, "wall": T0_WALL + t, "mono": T0_MONO + t, **fields}
        self.events.append(event)
        return event

    def obs(self, t: float, probe: str, target: str, value: Any = None, error: str | None = None):
        return self.add(t, "observation", probe=probe, target=target, value=value, error=error)

    def step(self, index: int, action: str, name: str | None, start: float, end: float, **kw):
        error = kw.pop("error", None)
        self.add(start, "step", phase="start", index=index, action=action, name=name, **kw)
        self.add(end, "step", phase="end", index=index, action=action, name=name, error=error)

    def expect(self, t: float, name: str, check: str, ok: bool, detail: str, **kw):
        finding = kw.pop("finding", False)
        self.add(
            t,
            "expectation",
            name=name,
            check=check,
            ok=ok,
            finding=finding,
            detail=detail,
            measurements=kw,
            params={},
        )

    def sorted(self) -> list[dict[str, Any]]:
        out = sorted(self.events, key=lambda e: e["mono"])
        for i, e in enumerate(out):
            e["seq"] = i
        return out


def api_value(status: str) -> dict:
    return {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": status, "latest_scheduler_heartbeat": "2025-06-15T12:00:00+00:00"},
        "triggerer": {"status": "healthy", "latest_triggerer_heartbeat": None},
    }


def drill() -> list[dict[str, Any]]:
    """60 s: freeze (hang scheduler, 20 s -> 40 s), cut (link, 45 s -> never healed)."""
    r = Recorder()
    config = {"scheduler.scheduler_health_check_threshold": "20"}
    r.add(0, "scenario", phase="start", config=config, scenario="scheduler_hang", run_id="r-abc")
    r.obs(1, "config", "scheduler", value=config)
    r.expect(1.5, "overrides in force", "config_in_force", True, "all overrides in force")
    for node in ("api-server", "scheduler", "worker-1"):
        r.add(0.2, "container", node=node, state="running")
    r.step(0, "trigger", "long", 2, 3, dag="long_task")
    r.add(2.8, "trigger", name="long", dag_id="long_task", run_id="manual__1", conf={})
    r.step(1, "wait", "long", 3, 8, state="running", task="work")
    r.step(2, "expect", "scheduler healthy", 8, 9, check="healthy")
    r.expect(9, "scheduler healthy", "healthy", True, "api_health healthy")
    r.step(3, "fault", "freeze", 20, 20.5, fault="hang", target="scheduler")
    r.add(
        20, "fault", phase="inject", name="freeze", fault="hang", target="scheduler", mode="pause"
    )
    r.add(20.3, "container", node="scheduler", state="paused")
    r.step(4, "expect", "flip", 20.5, 31, check="health_flipped")
    r.expect(31, "flip", "health_flipped", True, "api_health flipped (unhealthy)", delay=10.2)
    r.step(5, "heal", "freeze", 40, 40.5)
    r.add(40.4, "fault", phase="heal", name="freeze", fault="hang", target="scheduler")
    r.add(40.5, "container", node="scheduler", state="running")
    r.step(6, "expect", "recovered", 40.5, 44, check="health_recovered")
    r.expect(44, "recovered", "health_recovered", False, f"never recovered {HOSTILE}")
    r.step(7, "fault", "cut", 45, 45.2, fault="link", target="scheduler->postgres")
    r.add(45.1, "fault", phase="inject", name="cut", fault="link", target="scheduler->postgres")
    error = "run long is failed, not success after 10s"
    r.step(8, "wait", "long", 45.2, 56, state="success", error=error)
    r.add(56.1, "aborted", error=f"StepFailed: {error}")
    r.add(57, "heal_failed_placeholder", note=HOSTILE)  # an unknown kind
    r.add(
        57.5,
        "fault",
        phase="heal_failed",
        name="cut",
        fault="link",
        target="scheduler->postgres",
        error="toxiproxy: connection refused",
    )
    r.expect(58, "attempt 1 log", "remote_log", False, "attempt 1 log not in MinIO", finding=True)
    r.obs(58, "remote_log", "minio", value={"key": "k", "present": False, "try_number": 1})
    r.add(
        58.5,
        "diagnostics",
        node="scheduler",
        reason="expectation failed",
        path="diagnostics/scheduler-py-spy.txt",
    )
    r.add(59, "heal_audit", problems=["toxic down on scheduler->postgres"])
    r.add(59.5, "weird_kind", detail=HOSTILE)
    r.add(59.4, ODD_KIND, name="<i>x</i>")  # an unknown kind whose very name is markup
    for i in range(60):
        t = float(i)
        status = "unhealthy" if 30 <= t < 41 else "healthy"
        r.obs(t + 0.1, "api_health", "api-server", value=api_value(status))
        frozen = 20 <= t < 40
        r.obs(
            t + 0.2,
            "scheduler_health",
            "scheduler",
            value=None if frozen else {"status": 200},
            error="timeout" if frozen else None,
        )
        if t >= 3:
            state = "queued" if t < 5 else "running" if t < 50 else "failed"
            value = {
                "dag_id": "long_task",
                "run_id": "manual__1",
                "task_id": "work",
                "map_index": -1,
                "try_number": 1,
                "state": state,
                "hostname": "worker-1",
            }
            r.add(
                t + 0.3,
                "observation",
                probe="task_instance",
                target="long_task",
                value=value,
                error=None,
                round=i,
            )
    r.obs(30, "jobs_check", "scheduler", value={"ok": False})
    r.obs(31, "jobs_check", "scheduler", error="RuntimeError: exit 2: boom")
    r.obs(32, "jobs_check", "scheduler", value={"ok": True})
    return r.sorted()


def write_record(folder: Path, events: list[dict[str, Any]], *, logs: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(e) + "\n" for e in events)
    (folder / "history.jsonl").write_text(text, encoding="utf-8")
    if logs:
        (folder / "logs").mkdir(exist_ok=True)
        for node in ("scheduler", "worker-1"):
            (folder / "logs" / f"{node}.log").write_text(f"{node} log\n")
        (folder / "diagnostics").mkdir(exist_ok=True)
        (folder / "diagnostics" / "scheduler-py-spy.txt").write_text("Thread 1\n")
    return folder
