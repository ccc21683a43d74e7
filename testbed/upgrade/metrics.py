"""What an upgrade drill measured, read from its history (pure): each `upgrade` step's time and
plan, each migration's (``db migrate`` or ``db downgrade``) time, each TERM's time to a drained,
exited worker, and the API's longest gap in answers during each upgrade.

The benchmark (``benchmarks/bench_drills.py --pack upgrades``) reports these as medians over
rounds; the
events are those :mod:`testbed.upgrade.procedure`, :mod:`testbed.faults` and the engine record.
"""

from __future__ import annotations

from typing import Any

from testbed.checks.view import step_windows

Event = dict[str, Any]


def summary(events: list[Event]) -> dict[str, Any]:
    return {
        "upgrades": upgrades(events),
        "migrations": migrations(events),
        "drains": drains(events),
    }


def upgrades(events: list[Event]) -> list[dict[str, Any]]:
    """Each upgrade step: from -> to, the plan's kind, its seconds, the API's longest gap, and
    its downtime window and migration (None for a live roll)."""
    plans = [e for e in events if e["kind"] == "upgrade_plan"]
    windows = [e for e in events if e["kind"] == "upgrade_window"]
    out = []
    for start, end in step_windows(events, "upgrade"):
        if end is None:
            continue  # under way: nothing measured yet
        plan = next((p["plan"] for p in plans if start["mono"] <= p["mono"] <= end["mono"]), {})
        window = next((w for w in windows if start["mono"] <= w["mono"] <= end["mono"]), {})
        out.append(
            {
                "from": plan.get("from_version"),
                "to": plan.get("to_version"),
                "kind": plan.get("kind"),
                "seconds": round(end["mono"] - start["mono"], 3),
                "api_longest_gap_s": api_longest_gap(events, start["mono"], end["mono"]),
                "downtime_s": window.get("downtime_s"),  # first node down to every role back
                "migration_s": window.get("migration_s"),
                "ok": not end.get("error"),
            }
        )
    return out


def api_longest_gap(events: list[Event], t0: float, t1: float) -> float | None:
    """The longest time inside [t0, t1] between two answers of the API's health endpoint (the
    window's edges count as answers' bounds); None when the API was never asked in it."""
    asked = [
        e
        for e in events
        if e["kind"] == "observation" and e.get("probe") == "api_health" and t0 <= e["mono"] <= t1
    ]
    if not asked:
        return None
    answered = [e["mono"] for e in asked if not e.get("error") and e.get("value") is not None]
    edges = [t0, *answered, t1]
    return round(max(b - a for a, b in zip(edges, edges[1:], strict=False)), 3)


def migrations(events: list[Event]) -> list[dict[str, Any]]:
    """Each one-shot migrator: its version, command (migrate/downgrade), exit code, seconds."""
    started: dict[str, Event] = {}
    out = []
    for e in events:
        if e["kind"] != "migrate":
            continue
        if e.get("phase") == "start":
            started[e["node"]] = e
        elif e.get("phase") == "end":
            s = started.pop(e["node"], {})
            command = s.get("command") or "airflow db migrate"
            out.append(
                {
                    "node": e["node"],
                    "version": s.get("version"),
                    "command": " ".join(command.split()[:3]),
                    "exit_code": e.get("exit_code"),
                    "seconds": e.get("seconds"),
                }
            )
    return out


def drains(events: list[Event]) -> list[dict[str, Any]]:
    """Each TERM sent to a node: seconds until its container exited (Docker's exit time when
    recorded, else when it was seen exited; None: not seen exiting before it was started again,
    signalled again, or the end); ``killed``: the SIGKILL at the end of its grace came first."""
    out = []
    for i, sig in enumerate(events):
        if sig["kind"] != "signal" or sig.get("signal") != "TERM":
            continue
        node = sig["node"]
        exited, killed = None, False
        for e in events[i + 1 :]:
            if e["kind"] == "signal" and e.get("node") == node:
                if e.get("escalation"):  # the SIGKILL at the end of the grace: this drain's
                    killed = True
                    continue
                break  # a later signal: its own drain
            if e["kind"] == "container" and e.get("node") == node:
                state = str(e.get("state"))
                if state.startswith("exited"):
                    seen = e.get("finished", e["wall"])  # Docker's own exit time if known
                    exited = round(seen - sig["wall"], 3)
                    break
                if state in ("started", "ready", "running"):
                    break  # started again: an exit before it went unseen
        out.append(
            {"node": node, "fault": sig.get("fault"), "term_to_exit_s": exited, "killed": killed}
        )
    return out
