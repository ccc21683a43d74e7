"""The scenario DSL: both front-ends build one model; bad input names file, field, allowed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from testbed.core.errors import ScenarioError
from testbed.core.values import parse_duration
from testbed.scenario import Expect, Fault, Heal, Scenario, Trigger, Wait, from_data, load
from testbed.scenario.plan import plan

ROOT = Path(__file__).resolve().parents[2]
DRILLS = sorted((ROOT / "scenarios").glob("*.yaml"))

GOOD = {
    "name": "freeze",
    "topology": {"workers": 2, "config": {"scheduler.scheduler_health_check_threshold": 10}},
    "steps": [
        {"trigger": {"name": "long", "dag": "long_task", "conf": {"seconds": 40}}},
        {"wait": {"run": "long", "task": "work", "state": "running", "timeout": "90s"}},
        {"fault": {"name": "f", "kind": "hang", "target": "scheduler", "mode": "pause"}},
        {"expect": {"check": "health_flipped", "after": "f", "within": "12s"}},
        {"heal": "f"},
    ],
}


def with_step(i: int, step: dict) -> dict:
    steps = list(GOOD["steps"])
    steps[i] = step
    return {**GOOD, "steps": steps}


def error_of(data: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        from_data(data, "drill.yaml")
    return str(info.value)


def test_python_api_and_yaml_build_the_same_model():
    py = Scenario(
        name="freeze",
        topology={"workers": 2, "config": {"scheduler.scheduler_health_check_threshold": 10}},
        steps=[
            Trigger(name="long", dag="long_task", conf={"seconds": 40}),
            Wait(run="long", task="work", state="running", timeout=90),
            Fault(name="f", kind="hang", target="scheduler", mode="pause"),
            Expect(check="health_flipped", after="f", within=12),
            Heal(fault="f"),
        ],
    )
    assert py == from_data(GOOD)
    topo = py.topology.build()
    assert topo.config == {"scheduler": {"scheduler_health_check_threshold": "10"}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            with_step(0, {"trigger": {"name": "long", "dagg": "long_task"}}),
            "steps.0.trigger.dagg: unknown field",
        ),
        (
            with_step(1, {"wait": {"run": "long", "timeout": "2 mins"}}),
            "steps.1.wait.timeout: bad duration '2 mins'",
        ),
        (with_step(1, {"wait": {"run": "long", "state": "done"}}), "steps.1.wait.state"),
        (
            with_step(2, {"fault": {"name": "f", "kind": "hang", "target": "sched"}}),
            "steps.2.fault.target: unknown node 'sched'",
        ),
        (
            with_step(2, {"fault": {"name": "f", "kind": "freeze", "target": "scheduler"}}),
            "steps.2.fault.kind",
        ),
        (
            with_step(
                2, {"fault": {"name": "f", "kind": "kill", "target": "scheduler", "mode": "pause"}}
            ),
            "'mode' does not apply to a kill fault",
        ),
        (
            with_step(
                2, {"fault": {"name": "f", "kind": "stop", "target": "worker-1", "signal": "TERM"}}
            ),
            "'signal' does not apply to a stop fault",
        ),
        (
            with_step(
                2, {"fault": {"name": "f", "kind": "kill", "target": "worker-1", "signal": "USR9"}}
            ),
            "steps.2.fault.signal",
        ),
        (
            with_step(
                2,
                {
                    "fault": {
                        "name": "f",
                        "kind": "restart",
                        "target": "redis",
                        "delay": {"between": ["40s", "5s"], "seed": 1},
                    }
                },
            ),
            "steps.2.fault.delay: 'between' is [earliest, latest]",
        ),
        (
            with_step(
                2,
                {
                    "fault": {
                        "name": "f",
                        "kind": "link",
                        "target": "scheduler->mysql",
                        "toxic": "down",
                    }
                },
            ),
            "no link 'scheduler->mysql'; links: ",
        ),
        (
            with_step(2, {"fault": {"name": "f", "kind": "link", "target": "scheduler->redis"}}),
            "needs 'toxic'",
        ),
        (
            with_step(3, {"expect": {"check": "health_flopped"}}),
            "unknown check 'health_flopped'; allowed: component_refused, config_drift, "
            "config_in_force",
        ),
        (
            with_step(3, {"expect": {"check": "health_flipped", "prob": "x"}}),
            "unknown field(s) prob for check health_flipped; allowed: after",
        ),
        (
            with_step(3, {"expect": {"check": "health_flipped", "within": "1s", "during": "1s"}}),
            "either 'within'",
        ),
        (
            with_step(3, {"expect": {"check": "no_task_lost", "runs": ["nope"]}}),
            "unknown run 'nope'",
        ),
        (with_step(4, {"heal": "g"}), "steps.4.heal.fault: unknown fault 'g'"),
        (
            with_step(4, {"frobnicate": 1}),
            "steps.4: unknown step action 'frobnicate'; allowed: trigger",
        ),
        (with_step(4, {"heal": "f", "sleep": 1}), "steps.4: a step is one mapping"),
        (
            with_step(0, {"trigger": {"name": "long", "dag": "no_such_dag"}}),
            "unknown DAG 'no_such_dag'; DAGs: ",
        ),
        (with_step(3, {"expect": {"check": "health_recovered"}}), "after"),
        (
            with_step(
                2, {"fault": {"name": "f", "kind": "remove", "target": "worker-1", "for": "5s"}}
            ),
            "'for' does not apply to a remove fault",
        ),
        (with_step(1, {"wait": {"run": "long", "timeout": float("inf")}}), "is not finite"),
        ({**GOOD, "topology": {"workerz": 2}}, "topology.workerz: unknown field"),
        ({**GOOD, "topology": {"workers": 0}}, "topology.workers"),
        ({**GOOD, "topology": {"airflow_version": "2.9.0"}}, "topology.airflow_version"),
        ({**GOOD, "topology": {"config": {"Scheduler": 1}}}, "topology.config"),
        ({**GOOD, "steps": []}, "steps: "),
        ({"steps": GOOD["steps"]}, "name: Field required"),
    ],
)
def test_bad_scenarios_name_the_file_the_field_and_what_is_allowed(data, expected):
    message = error_of(data)
    assert message.startswith("drill.yaml: ")
    assert expected in message


def test_names_must_exist_at_that_point_of_the_scenario():
    late = [GOOD["steps"][1], GOOD["steps"][0]]  # wait before the trigger
    assert "steps.0.wait.run: unknown run 'long'" in error_of({**GOOD, "steps": late})
    twice = [*GOOD["steps"], GOOD["steps"][0]]
    assert "run name 'long' is used twice" in error_of({**GOOD, "steps": twice})
    added = [
        *GOOD["steps"],
        {"add_node": "scheduler-2"},
        {"fault": {"name": "k", "kind": "kill", "target": "scheduler-2"}},
    ]
    assert from_data({**GOOD, "steps": added}).steps[-1].target == "scheduler-2"
    assert "cannot add 'postgres-2'" in error_of(
        {**GOOD, "steps": [*GOOD["steps"], {"add_node": "postgres-2"}]}
    )


def test_host_of_and_link_globs_are_checked():
    ok = with_step(2, {"fault": {"name": "f", "kind": "kill", "target": "host_of:long.work"}})
    assert from_data(ok).steps[2].target == "host_of:long.work"
    bad = with_step(2, {"fault": {"name": "f", "kind": "kill", "target": "host_of:nope.work"}})
    assert "unknown run 'nope'" in error_of(bad)
    glob = with_step(
        2,
        {
            "fault": {
                "name": "f",
                "kind": "link",
                "target": "*->redis",
                "toxic": "down",
                "for": "30s",
            }
        },
    )
    assert from_data(glob).steps[2].for_ == 30


def test_durations():
    assert [parse_duration(x) for x in ("30s", "2m", "500ms", "1.5s", "1h", 7, 0.5)] == [
        30,
        120,
        0.5,
        1.5,
        3600,
        7,
        0.5,
    ]
    for bad in ("30", "-1s", "1d", True, None, -3):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_an_invalid_file_fails_fast_naming_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(with_step(1, {"wait": {"run": "long", "timout": "5s"}})))
    t0 = time.monotonic()
    with pytest.raises(ScenarioError, match=r"broken.yaml: steps.1.wait.timout: unknown field"):
        load(path)
    assert time.monotonic() - t0 < 1.0
    (tmp_path / "tabs.yaml").write_text("name: x\n\tsteps: []\n")
    with pytest.raises(ScenarioError, match=r"tabs.yaml line 2: not valid YAML"):
        load(tmp_path / "tabs.yaml")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ScenarioError, match="a .yaml, .yml or .py file"):
        load(tmp_path / "x.json")


def test_python_scenario_files(tmp_path):
    path = tmp_path / "drill.py"
    path.write_text(
        "from testbed.scenario import Expect, Scenario, Sleep\n"
        "SCENARIO = Scenario(name='nap', steps=[Sleep(seconds='1s'), "
        "Expect(name='up', check='healthy', probe='api_health')])\n"
    )
    assert load(path).steps[0].seconds == 1
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(ScenarioError, match="defines no SCENARIO"):
        load(tmp_path / "empty.py")


@pytest.mark.parametrize("path", DRILLS, ids=[p.stem for p in DRILLS])
def test_every_drill_validates_and_plans(path):
    s = load(path)
    lines = plan(s)
    assert lines[0].startswith(f"scenario {s.name}:")
    assert len(lines) == len(s.steps) + 2 + len(s.topology.config) + 1
    assert s.name == path.stem


def test_the_drill_pack_keeps_its_drills():
    assert {p.stem for p in DRILLS} >= {
        "scheduler_hang",
        "scheduler_db_stall",
        "scheduler_crash_adoption",
        "worker_node_loss",
        "logs_persist",
        "broker_outage",
        "dag_processor_db_stall",
        "kerberos_baseline",
        "kerberos_kdc_outage",
        "kerberos_kdc_long_outage",
        "kerberos_sidecar_killed",
        "upgrade_rolling_patch",
        "upgrade_minor_downtime",
        "upgrade_migrate_killed",
        "upgrade_two_migrators",
        "upgrade_schema_guard",
    }


def test_drained_cleanly_needs_a_fault_that_sends_a_term():
    hang = with_step(3, {"expect": {"check": "drained_cleanly", "fault": "f"}})
    assert "steps.3.expect.fault: 'f' sends no TERM" in error_of(hang)
    term = {"name": "f", "kind": "kill", "target": "worker-1", "signal": "TERM"}
    ok = with_step(2, {"fault": term})
    ok["steps"][3] = {"expect": {"check": "drained_cleanly", "fault": "f"}}
    assert from_data(ok, "drill.yaml").steps[3].check == "drained_cleanly"


def test_a_drill_without_an_expectation_of_its_own_is_refused():
    """Findings and the automatic "overrides in force" cannot fail a drill: one real
    expectation is required, so a drill cannot pass whatever the cluster did."""
    steps = [{"trigger": {"name": "r", "dag": "smoke"}}]
    finding = {"expect": {"name": "f", "check": "no_task_lost", "finding": True}}
    for data in (steps, [*steps, finding]):
        with pytest.raises(ScenarioError, match="steps: no expectation of its own"):
            from_data({"name": "n", "steps": data}, "n.yaml")
    judged = {"expect": {"name": "j", "check": "no_task_lost"}}
    assert from_data({"name": "n", "steps": [*steps, judged]}, "n.yaml").steps[1].check


def test_a_process_check_names_a_node_of_the_topology_and_a_valid_pattern():
    bad_node = {"check": "process_running", "node": "worker-9", "cmdline": "sh"}
    assert "steps.3.expect.node: unknown node 'worker-9'" in error_of(
        with_step(3, {"expect": bad_node})
    )
    bad_regex = {"check": "process_running", "node": "worker-1", "cmdline": "(unclosed"}
    assert "cmdline" in error_of(with_step(3, {"expect": bad_regex}))
