"""What a failed scenario test prints: the step timeline, the last events, node log tails."""

from __future__ import annotations

import json

from testbed.report import evidence

WALL = 1796564584.0  # 13:43:04 UTC


def _events():
    return [
        {"seq": 0, "kind": "step", "wall": WALL, "mono": 1.0, "phase": "start", "index": 0,
         "action": "fault", "name": "down"},
        {"seq": 1, "kind": "observation", "wall": WALL + 1, "mono": 2.0, "probe": "api_health"},
        {"seq": 2, "kind": "trigger", "wall": WALL + 2, "mono": 3.0, "name": "during",
         "run_id": "manual__x"},
        {"seq": 3, "kind": "expectation", "wall": WALL + 70, "mono": 71.0, "name": "ran",
         "ok": False, "detail": "which[0] on worker-2 is running"},
        {"seq": 4, "kind": "step", "wall": WALL + 70, "mono": 71.0, "phase": "end", "index": 2,
         "action": "expect", "name": "ran", "error": "boom"},
    ]  # fmt: skip


def test_the_timeline_has_each_step_trigger_and_verdict_with_its_time_and_no_observations():
    lines = evidence.timeline(_events())
    assert lines == [
        "13:43:04 step 0 fault down start",
        "13:43:06 trigger during: manual__x",
        "13:44:14 FAIL ran: which[0] on worker-2 is running",
        "13:44:14 step 2 expect ran end error=boom",
    ]


def test_the_last_events_are_the_newest_ones_cut_to_a_line():
    lines = evidence.last_events(_events(), n=2)
    assert len(lines) == 2 and lines[0].startswith("13:44:14 ") and '"seq": 3' in lines[0]
    assert all(len(line) <= evidence.WIDTH + 9 for line in lines)


def test_each_saved_node_log_gives_its_last_lines_and_a_missing_folder_gives_none(tmp_path):
    (tmp_path / "worker-1.log").write_text("\n".join(f"line {i}" for i in range(10)))
    (tmp_path / "git-server.log").write_text("only\n")
    tails = evidence.log_tails(tmp_path, n=2)
    assert tails == ["[git-server] only", "[worker-1] line 8", "[worker-1] line 9"]
    assert evidence.log_tails(tmp_path / "nothing") == []


def test_read_events_skips_blank_and_half_written_lines_and_a_missing_file_is_empty(tmp_path):
    history = tmp_path / "history.jsonl"
    assert evidence.read_events(history) == []
    history.write_text(json.dumps(_events()[0]) + '\n\n{"seq": 1, "kind": "obs')
    assert [e["name"] for e in evidence.read_events(history)] == ["down"]
