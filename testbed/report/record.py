"""Reading a scenario's record folder (``history.jsonl``, ``verdict.json``, saved container logs)
into what the report needs: the events, the verdict, the scenario's name, run id and time origin.

Reading is tolerant: a line that is not a JSON object (a half-written last line) is skipped and
counted, an event without ``mono`` takes ``wall`` (or its predecessor's time); a verdict file
that cannot be read is computed from the history instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from testbed.scenario.verdict import Verdict, compute

Event = dict[str, Any]


@dataclass
class Record:
    folder: Path
    events: list[Event]
    verdict: Verdict
    scenario: str
    run_id: str | None
    t0: float  # monotonic time of the scenario's start: the time axis' zero
    t_end: float  # seconds since t0 of the last event
    skipped_lines: int = 0

    def t(self, event: Event) -> float:
        """Seconds since the scenario started."""
        return event["mono"] - self.t0

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e["kind"] == kind]

    @property
    def start(self) -> Event | None:
        starts = [e for e in self.of("scenario") if e.get("phase", "start") == "start"]
        return starts[0] if starts else None


def load_record(folder: Path) -> Record:
    folder = Path(folder)
    events, skipped = read_events(folder / "history.jsonl")
    starts = [e for e in events if e["kind"] == "scenario"]
    scenario = str(starts[0].get("scenario") or "") if starts else ""
    scenario = scenario or re.sub(r"-\d+$", "", folder.name)
    t0 = starts[0]["mono"] if starts else (events[0]["mono"] if events else 0.0)
    t_end = max((e["mono"] for e in events), default=t0) - t0
    return Record(
        folder=folder,
        events=events,
        verdict=read_verdict(folder / "verdict.json", scenario, events),
        scenario=scenario,
        run_id=starts[0].get("run_id") if starts else None,
        t0=t0,
        t_end=max(t_end, 0.0),
        skipped_lines=skipped,
    )


def read_events(path: Path) -> tuple[list[Event], int]:
    """The history's events (each with a ``kind`` and a ``mono``) and how many lines were not."""
    events: list[Event] = []
    skipped, last = 0, 0.0
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for line in filter(str.strip, text.splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            skipped += 1
            continue
        event["kind"] = str(event.get("kind", "unknown"))
        mono = event.get("mono", event.get("wall", last))
        event["mono"] = last = float(mono) if isinstance(mono, int | float) else last
        events.append(event)
    return events, skipped


def read_verdict(path: Path, scenario: str, events: list[Event]) -> Verdict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Verdict(**{f.name: data[f.name] for f in fields(Verdict) if f.name in data})
    except (OSError, ValueError, TypeError):
        pass
    try:
        return compute(scenario, events)
    except Exception as exc:  # a history the verdict cannot be computed from is still reported
        error = f"verdict could not be computed: {type(exc).__name__}: {exc}"
        return Verdict(scenario, False, failed_steps=[{"action": "report", "error": error}])


def log_links(folder: Path) -> list[tuple[str, str]]:
    """(node, relative href) of saved container logs: ``logs/`` beside the history, and the
    run's ``logs/`` (``<run>/scenarios/<name>-<n>/`` -> ``<run>/logs/``)."""
    out = [(p.stem, f"logs/{p.name}") for p in sorted((folder / "logs").glob("*.log"))]
    if folder.parent.name == "scenarios":
        run_logs = folder.parent.parent / "logs"
        out += [(p.stem, f"../../logs/{p.name}") for p in sorted(run_logs.glob("*.log"))]
    return out
