"""A soak's summary from a hand-written history, and the runner's usage sampler."""

from __future__ import annotations

import time

from testbed.core.history import History
from testbed.soak.summary import distribution, summarize
from testbed.soak.usage import UsageSampler


def _ti(run_id, task, try_number, state, mono=1.0):
    value = {"dag_id": "d", "run_id": run_id, "task_id": task, "map_index": -1}
    value.update(try_number=try_number, state=state)
    return {"kind": "observation", "probe": "task_instance", "mono": mono, "value": value}


def _usage(mono, cpu, rss):
    return {"kind": "runner_usage", "mono": mono, "cpu_s": cpu, "rss_mb": rss, "threads": 9}


def test_summary_counts_final_states_retries_faults_and_delays():
    events = [
        {"kind": "trigger", "mono": 0},
        {"kind": "trigger", "mono": 0},
        _ti("r1", "a", 1, "running"),
        _ti("r1", "a", 2, "success", mono=5),  # the last observation counts
        _ti("r2", "a", 1, "failed"),
        {"kind": "fault", "phase": "inject", "fault": "kill", "mono": 2},
        {"kind": "fault", "phase": "inject", "fault": "hang", "mono": 3},
        {"kind": "fault", "phase": "inject", "fault": "kill", "mono": 4},
        {"kind": "fault", "phase": "heal_failed", "fault": "kill", "mono": 6},
        {"kind": "expectation", "measurements": {"delay": 12.0}, "mono": 7},
        {"kind": "expectation", "measurements": {"delay": 8.0}, "mono": 8},
        {"kind": "expectation", "measurements": {}, "mono": 9},
        _usage(0, 10.0, 100.0),
        _usage(1800, 100.0, 110.0),
        _usage(3600, 190.0, 120.0),
    ]
    s = summarize(events)
    assert (s["runs"], s["triggered"], s["task_instances"]) == (2, 2, 2)
    assert s["task_states"] == {"success": 1, "failed": 1}
    assert s["retried"] == 1 and s["faults"] == {"kill": 2, "hang": 1}
    assert s["heal_failures"] == 1
    assert s["detection_delays_s"] == {"n": 2, "min": 8.0, "median": 10.0, "p95": 12.0, "max": 12.0}
    r = s["runner"]
    assert r["cpu_share_of_one_core"] == 0.05  # 180 CPU-s over an hour
    assert r["rss_growth_mb_per_hour"] == 20.0 and r["rss_mb"]["max"] == 120.0


def test_a_mapped_tasks_pre_expansion_row_is_not_counted():
    row = _ti("r1", "one", 0, None)  # the placeholder before expansion (map_index -1)
    expanded = _ti("r1", "one", 1, "success")
    expanded["value"]["map_index"] = 0
    s = summarize([row, expanded])
    assert s["task_instances"] == 1 and s["task_states"] == {"success": 1}


def test_no_samples_no_runner_figures():
    assert summarize([])["runner"] is None
    assert distribution([]) is None


def test_sampler_appends_usage_to_the_current_history(tmp_path):
    class Cluster:
        history = History(tmp_path / "h.jsonl")

    with UsageSampler(Cluster, interval=0.05):
        time.sleep(0.3)
    samples = Cluster.history.events("runner_usage")
    assert len(samples) >= 3
    assert all(s["rss_mb"] > 0 and s["threads"] >= 1 for s in samples)
    assert samples[-1]["cpu_s"] >= samples[0]["cpu_s"]


def _health(mono, **status):
    value = {c: {"status": s} for c, s in status.items()}
    return {"kind": "observation", "probe": "api_health", "mono": mono, "value": value}


def _fault(name, phase, kind, target, mono):
    return {"kind": "fault", "name": name, "phase": phase, "fault": kind, "target": target,
            "mono": mono}  # fmt: skip


def test_health_detection_per_component_and_kind():
    from testbed.soak.summary import health_detection

    ok, bad = "healthy", "unhealthy"
    events = [
        _health(9, scheduler=ok),
        _fault("f1", "inject", "hang", "scheduler", 10),
        _health(11, scheduler=ok),
        _health(22, scheduler=bad),  # seen 12 s after the inject
        _fault("f1", "heal", "hang", "scheduler", 30),
        _health(31, scheduler=bad),
        _health(34, scheduler=ok),  # healthy 4 s after the heal
        _fault("f2", "inject", "link", "scheduler->postgres", 40),
        _health(45, scheduler=ok),
        _fault("f2", "heal", "link", "scheduler->postgres", 46),  # too short to be noticed
        _health(47, scheduler=ok),
        _fault("f3", "inject", "kill", "worker-1", 50),  # not a component the health reports
        _fault("f3", "heal", "kill", "worker-1", 60),
        _fault("f4", "inject", "kill", "triggerer", 70),  # never healed: not judged
        _health(75, scheduler=bad),
        _fault("f5", "inject", "kill", "scheduler", 80),  # already unhealthy: not judged
        _fault("f5", "heal", "kill", "scheduler", 90),
    ]
    d = health_detection(events)
    assert set(d) == {"scheduler:hang", "scheduler:link"}
    assert d["scheduler:hang"]["detected_after_s"]["median"] == 12
    assert d["scheduler:hang"]["healthy_again_after_heal_s"]["median"] == 4
    assert d["scheduler:link"]["detected_after_s"] is None
    assert d["scheduler:link"]["unnoticed_fault_seconds"] == [6]
    assert d["scheduler:link"]["faults"] == 1
