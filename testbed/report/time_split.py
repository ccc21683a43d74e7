"""Where a drill's time went, read from its history: waiting on Airflow (a ``wait`` for a run or
a task, a ``sleep``, an ``expect`` that watches for ``within`` or holds ``during`` a window:
time set by Airflow's timers and the drill's own windows, which compressed time shrinks) and
the rest (faults, upgrades, node starts and checks the drill carries out itself: work a
faster timescale does not shorten). Pure: events in, seconds out."""

from __future__ import annotations

from typing import Any

WAITING = frozenset({"wait", "sleep"})


def _waits(start: dict[str, Any]) -> bool:
    if start.get("action") in WAITING:
        return True
    watched = (start.get("within"), start.get("during"))
    return start.get("action") == "expect" and any(v not in (None, "None") for v in watched)


def time_split(events: list[dict[str, Any]]) -> dict[str, float]:
    """``{"waiting_s", "acting_s"}``: the seconds of the drill's steps spent waiting on Airflow
    and the seconds spent on the rest (steps of ``go on at once`` count only their own call)."""
    starts: dict[str, dict[str, Any]] = {}
    waiting = acting = 0.0
    for e in events:
        if e.get("kind") != "step" or e.get("phase") not in ("start", "end"):
            continue
        index = str(e.get("index"))
        if e["phase"] == "start":
            starts[index] = e
            continue
        start = starts.pop(index, None)
        if start is None:
            continue
        seconds = float(e["mono"]) - float(start["mono"])
        if _waits(start):
            waiting += seconds
        else:
            acting += seconds
    return {"waiting_s": round(waiting, 1), "acting_s": round(acting, 1)}
