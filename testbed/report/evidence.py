"""What a failed scenario test prints (the pytest plugin's report section): the scenario's step
timeline, the last events and the tail of each node's saved log. A CI run's record folder is
gone with its clone; this text is all that is left of a failure there, so it must say when each
step started and ended, what each expectation saw, and what the nodes last said."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

TIMELINE_KINDS = ("scenario", "step", "fault", "trigger", "expectation", "dag_push", "heal_audit")
LAST_EVENTS = 10
LOG_TAIL = 6
WIDTH = 240


def _clock(event: dict[str, Any]) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(event.get("wall", 0.0)))


def _timeline_line(e: dict[str, Any]) -> str:
    kind = e["kind"]
    if kind == "step":
        what = f"step {e.get('index')} {e.get('action')} {e.get('name') or ''} {e.get('phase')}"
        what += f" error={e['error']}" if e.get("error") else ""
    elif kind == "expectation":
        what = f"{'PASS' if e.get('ok') else 'FAIL'} {e.get('name')}: {e.get('detail')}"
    elif kind == "trigger":
        what = f"trigger {e.get('name')}: {e.get('run_id')}"
    else:
        rest = {k: v for k, v in e.items() if k not in ("seq", "kind", "wall", "mono")}
        what = f"{kind} {json.dumps(rest, default=str)}"
    return f"{_clock(e)} {what}"[:WIDTH]


def timeline(events: list[dict[str, Any]]) -> list[str]:
    """One line per step, fault, trigger, expectation and push, with its wall-clock time."""
    return [_timeline_line(e) for e in events if e["kind"] in TIMELINE_KINDS]


def last_events(events: list[dict[str, Any]], n: int = LAST_EVENTS) -> list[str]:
    """The last ``n`` events, each cut to one line."""
    return [
        f"{_clock(e)} " + json.dumps({k: e[k] for k in e if k not in ("wall", "mono")})[:WIDTH]
        for e in events[-n:]
    ]


def log_tails(logs: Path, n: int = LOG_TAIL) -> list[str]:
    """The last ``n`` lines of each saved node log in ``logs`` (``<node>.log``)."""
    out: list[str] = []
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        lines = log.read_text(errors="replace").splitlines()[-n:]
        out += [f"[{log.stem}] {line[:WIDTH]}" for line in lines]
    return out


def read_events(history: Path) -> list[dict[str, Any]]:
    """The events of a history file (none when it is missing; a line a thread is still
    writing is left out)."""
    if not history.exists():
        return []
    events = []
    for line in history.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
