"""What an upgrade drill measured, read from a hand-written history."""

from __future__ import annotations

from testbed.upgrade import metrics
from tests.unit.test_checks import ev


def step(mono: float, phase: str, index: int = 3, action: str = "upgrade", **kw) -> dict:
    return ev("step", mono, phase=phase, index=index, action=action, **kw)


def api(mono: float, ok: bool = True) -> dict:
    fields = {"value": {"status": "ok"}, "error": None} if ok else {"value": None, "error": "x"}
    return ev("observation", mono, probe="api_health", target="api-server", **fields)


PLAN = {"from_version": "3.3.1", "to_version": "3.3.2", "kind": "live"}


def test_an_upgrade_its_time_and_the_apis_longest_gap():
    h = [step(10, "start"), ev("upgrade_plan", 10.1, plan=PLAN), api(11), api(13, ok=False)]
    h += [api(15, ok=False), api(20), api(22), step(30, "end")]
    (up,) = metrics.upgrades(h)
    assert up == {
        "from": "3.3.1",
        "to": "3.3.2",
        "kind": "live",
        "seconds": 20.0,
        "api_longest_gap_s": 9.0,  # last answer at 11, next at 20
        "downtime_s": None,  # a live roll has no downtime window
        "migration_s": None,
        "ok": True,
    }
    h.insert(-1, ev("upgrade_window", 29, outcome="done", downtime_s=12.5, migration_s=3.2))
    (up,) = metrics.upgrades(h)
    assert (up["downtime_s"], up["migration_s"]) == (12.5, 3.2)
    assert metrics.api_longest_gap(h, 0, 5) is None  # never asked in the window
    assert metrics.api_longest_gap([api(1, ok=False)], 0, 5) == 5.0


def test_migrations_pair_their_start_and_end():
    h = [
        ev("migrate", 1, phase="start", node="migrate", version="3.3.2", command=""),
        ev("migrate", 5, phase="end", node="migrate", exit_code=0, seconds=4.0),
        ev(
            "migrate",
            6,
            phase="start",
            node="migrate",
            version="3.3.2",
            command="airflow db downgrade -r 1d6611b6ab7c -y",
        ),  # fmt: skip
        ev("migrate", 9, phase="end", node="migrate", exit_code=0, seconds=3.2),
    ]
    got = [(m["command"], m["seconds"]) for m in metrics.migrations(h)]
    assert got == [("airflow db migrate", 4.0), ("airflow db downgrade", 3.2)]


def test_term_to_exit_prefers_dockers_exit_time_and_stops_at_a_restart():
    sig = ev("signal", 100, node="worker-1", signal="TERM", fault="t")
    exited = ev("container", 130, node="worker-1", state="exited(0)", finished=sig["wall"] + 12.5)
    assert metrics.drains([sig, exited])[0]["term_to_exit_s"] == 12.5
    seen = ev("container", 107, node="worker-1", state="exited(0)")
    assert metrics.drains([sig, seen])[0]["term_to_exit_s"] == 7.0
    restarted = ev("container", 104, node="worker-1", state="started")
    assert metrics.drains([sig, restarted, seen])[0]["term_to_exit_s"] is None
    running_again = ev("container", 104, node="worker-1", state="running")  # its exit unseen
    assert metrics.drains([sig, running_again, seen])[0]["term_to_exit_s"] is None
    other = ev("container", 105, node="worker-2", state="exited(0)")
    assert metrics.drains([sig, other])[0]["term_to_exit_s"] is None


def test_the_kill_at_the_end_of_a_grace_is_part_of_its_drain():
    sig = ev("signal", 100, node="triggerer", signal="TERM")
    kill = ev("signal", 130, node="triggerer", signal="KILL", escalation=True)
    seen = ev("container", 131, node="triggerer", state="exited(137)")
    (d,) = metrics.drains([sig, kill, seen])
    assert d["killed"] is True and d["term_to_exit_s"] == 31.0
    (d,) = metrics.drains([sig, seen])
    assert d["killed"] is False and d["term_to_exit_s"] == 31.0
    again = ev("signal", 130, node="triggerer", signal="KILL")  # a fault's own signal
    assert metrics.drains([sig, again, seen])[0]["term_to_exit_s"] is None
