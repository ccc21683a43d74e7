"""The history: what a runner reads back from memory is exactly what the file holds."""

from __future__ import annotations

from pathlib import Path

from testbed.core.history import History, load


def test_events_in_memory_equal_the_file(tmp_path):
    h = History(tmp_path / "h.jsonl")
    h.append("observation", probe="api_health", value={"at": Path("/x")})  # default=str
    h.append("step", phase="start", index=0)
    assert h.events() == load(tmp_path / "h.jsonl")
    assert h.events("step") == [e for e in load(tmp_path / "h.jsonl") if e["kind"] == "step"]
    assert h.events()[0]["value"] == {"at": "/x"}


def test_a_reopened_history_continues_the_sequence(tmp_path):
    History(tmp_path / "h.jsonl").append("a")
    h = History(tmp_path / "h.jsonl")
    h.append("b")
    assert [(e["seq"], e["kind"]) for e in h.events()] == [(0, "a"), (1, "b")]


def test_changing_a_returned_event_changes_nothing_recorded(tmp_path):
    h = History(tmp_path / "h.jsonl")
    h.append("step", phase="start")
    h.events()[0]["phase"] = "end"
    assert h.events()[0]["phase"] == "start"
