"""What the integration tests read of a `testbed run` they started: scenario records whose
sleep step has begun, and the run's objects still in the engine."""

from __future__ import annotations

import json
from pathlib import Path

from testbed import runtime


def sleeping(home: Path, scenario: str = "*") -> list[Path]:
    """Record folders (under ``TESTBED_HOME`` ``home``) of scenarios named like ``scenario``
    whose sleep step has started."""
    out = []
    for history in home.glob(f"runs/*/scenarios/{scenario}/history.jsonl"):
        events = [json.loads(ln) for ln in history.read_text().splitlines() if ln.strip()]
        if any(e["kind"] == "step" and e.get("action") == "sleep" for e in events):
            out.append(history.parent)
    return out


def left(run_id: str) -> list:
    """Every container, network and volume of the run still in the engine."""
    containers, networks, volumes = runtime.run_objects(run_id)
    return [*containers, *networks, *volumes]
