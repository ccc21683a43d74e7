"""Compressed time without Docker: the timers scaled consistently, what Airflow would read,
the scenario's own waits scaled, the bounds that must not shrink left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import airflow_config as AC
from testbed import timescale as T
from testbed.core.errors import ScenarioError, TestbedError
from testbed.core.secrets import Secrets
from testbed.scenario.compress import compress
from testbed.scenario.load import from_data, load
from testbed.topology import Topology

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_every_timer_scales_from_the_override_or_airflows_default():
    config = {"scheduler": {"scheduler_health_check_threshold": "20"}}
    eff = T.effective(config, 0.5)
    assert eff["scheduler"]["scheduler_health_check_threshold"] == "10"  # from the override
    assert eff["scheduler"]["task_instance_heartbeat_timeout"] == "150"  # from Airflow's 300
    assert eff["scheduler"]["orphaned_tasks_check_interval"] == "150"
    assert eff["workers"]["min_heartbeat_interval"] == "2"  # an integer option: rounded
    assert eff["triggerer"]["job_heartbeat_sec"] == "2.5"  # a float option: exact
    assert {f"{s}.{k}" for s, kv in eff.items() for k in kv} == set(T.TIMERS)


def test_rounding_never_shrinks_the_margin_and_nothing_goes_below_a_second():
    eff = T.effective({"scheduler": {"scheduler_health_check_threshold": "9"}}, 0.5)
    assert eff["scheduler"]["scheduler_health_check_threshold"] == "5"  # 4.5 rounds up
    assert eff["workers"]["min_heartbeat_interval"] == "2"  # 2.5 rounds down
    eff = T.effective({"scheduler": {"scheduler_heartbeat_sec": "2"}}, 0.2)
    assert eff["scheduler"]["scheduler_heartbeat_sec"] == "1"  # 0.4: the floor
    assert eff["scheduler"]["job_heartbeat_sec"] == "1"
    config = {"core": {"parallelism": "8"}}
    assert T.effective(config, 1.0) == config


def test_the_nodes_get_the_scaled_timers():
    topo = Topology(config={"scheduler": {"scheduler_health_check_threshold": "20"}}, timescale=0.5)
    env = AC.environment(topo, "scheduler", Secrets.generate())
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD"] == "10"
    assert env["AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD"] == "15"
    assert env["TESTBED_TIMESCALE"] == "0.5"  # the testbed's own DAGs' clock
    assert "TESTBED_TIMESCALE" not in AC.environment(Topology(), "worker-1", Secrets.generate())
    assert topo.flat_config() == {"scheduler.scheduler_health_check_threshold": "20"}
    assert topo.flat_effective()["scheduler.scheduler_health_check_threshold"] == "10"


def test_detection_bounds_keep_their_observation_slack():
    assert T.detection_bound(22, 0.5) == 13.5  # 10 s of threshold + 3.5 s of slack
    assert T.detection_bound(22, 1.0) == 22
    assert T.detection_bound(3, 0.5) == 3  # never grows
    assert T.duration(30, 0.25) == 7.5


@pytest.mark.parametrize("bad", [0.05, 1.5])
def test_timescale_out_of_range_is_refused(bad):
    with pytest.raises(TestbedError, match="timescale: must be between 0.2 and 1"):
        Topology(timescale=bad)
    with pytest.raises(ScenarioError, match="topology.timescale"):
        from_data({"name": "x", "topology": {"timescale": bad}, "steps": [{"sleep": 1}]})


def test_a_timer_override_must_be_seconds():
    with pytest.raises(TestbedError, match="scheduler.scheduler_heartbeat_sec: 'fast' is not a"):
        Topology(config={"scheduler": {"scheduler_heartbeat_sec": "fast"}}, timescale=0.5)


def test_env_overrides_the_scenario_and_is_checked(monkeypatch):
    monkeypatch.setenv(T.ENV, "0.25")
    assert load(SCENARIOS / "quiet.yaml").topology.build().timescale == 0.25
    monkeypatch.setenv(T.ENV, "fast")
    with pytest.raises(ScenarioError, match="timescale: TESTBED_TIMESCALE='fast' is not a num"):
        load(SCENARIOS / "quiet.yaml")
    monkeypatch.setenv(T.ENV, "0.1")
    with pytest.raises(ScenarioError, match="TESTBED_TIMESCALE='0.1' is not between 0.2 and 1"):
        load(SCENARIOS / "quiet.yaml")


def test_a_scenario_compresses_its_waits_not_its_upper_bounds():
    s = load(SCENARIOS / "scheduler_hang.yaml")
    c = compress(s, 0.5)
    before = {i: st for i, st in enumerate(s.steps)}
    changed = [i for i, st in enumerate(c.steps) if st != before[i]]
    assert changed  # the health expectations' bounds
    for i in changed:
        old, new = before[i], c.steps[i]
        assert new.within == old.within  # an upper bound on waiting: as written
        for key in ("max_delay", "max_age"):
            if (old.model_extra or {}).get(key) is not None:
                assert new.check_params().model_dump()[key] == T.detection_bound(
                    old.model_extra[key], 0.5
                )
    assert compress(s, 1.0) is s


def test_fault_durations_sleeps_and_windows_scale():
    s = load(SCENARIOS / "broker_outage.yaml")
    c = compress(s, 0.5)
    fault = next(st for st in c.steps if st.action == "fault")
    sleep = next(st for st in c.steps if st.action == "sleep")
    assert fault.for_ == 15 and sleep.seconds == 15
    q = compress(load(SCENARIOS / "quiet.yaml"), 0.5)
    assert [st.during for st in q.steps if st.action == "expect"][:3] == [30, 7.5, 7.5]
    assert [st.timeout for st in q.steps if st.action == "wait"] == [90, 120]  # upper bounds


def test_a_tickets_refresh_interval_scales_like_a_detection_bound():
    """``max_interval`` bounds a refresh cycle that the timescale shortens (30 s -> 15 s)."""
    s = load(SCENARIOS / "kerberos_lifetime_short.yaml")
    c = compress(s, 0.5)
    bounds = [
        (old.model_extra["max_interval"], new.check_params().max_interval)
        for old, new in zip(s.steps, c.steps, strict=True)
        if old.action == "expect" and (old.model_extra or {}).get("max_interval") is not None
    ]
    assert bounds == [(40, T.detection_bound(40, 0.5))] and T.detection_bound(40, 0.5) == 22.5
