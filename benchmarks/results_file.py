"""Where a benchmark's results go: ``benchmarks/results/<name>-<time>.json`` (not committed)."""

from __future__ import annotations

import json
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write(name: str, data: dict) -> Path:
    """Write ``data`` as ``<name>-<time>.json``, print it and where it went."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=1))
    print(json.dumps(data, indent=1))
    print(f"written: {path}")
    return path
