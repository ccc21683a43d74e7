"""Where a drill's time went, judged on histories recorded by real drills: the quiet drill
mostly waits on Airflow (its windows), an upgrade drill mostly acts (nodes stopped, migrated,
started), and the two parts never add up to more than the drill's steps took."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from testbed.report.time_split import time_split

HISTORIES = Path(__file__).parent / "histories"


def events(name: str) -> list[dict]:
    with gzip.open(HISTORIES / f"{name}.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_the_quiet_drill_waits_on_airflow():
    ev = events("quiet")
    split = time_split(ev)
    assert split["waiting_s"] > 40 and split["acting_s"] < 2  # 30 s + 2 x 7.5 s windows
    assert split["waiting_s"] + split["acting_s"] <= ev[-1]["mono"] - ev[0]["mono"]


def test_an_upgrade_drill_mostly_acts():
    split = time_split(events("upgrade_mixed_versions"))
    assert split["acting_s"] > 3 * split["waiting_s"] > 0


def test_a_step_without_its_end_counts_nothing():
    start = {"kind": "step", "phase": "start", "index": 0, "action": "sleep", "mono": 1.0}
    end = {"kind": "step", "phase": "end", "index": 0, "mono": 4.0}
    assert time_split([start]) == {"waiting_s": 0.0, "acting_s": 0.0}
    assert time_split([start, end]) == {"waiting_s": 3.0, "acting_s": 0.0}
    instant = {**start, "action": "expect", "within": None, "during": None}
    assert time_split([instant, end]) == {"waiting_s": 0.0, "acting_s": 3.0}
