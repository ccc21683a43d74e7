"""The ``fault`` step as one model per fault kind (a union told apart by ``kind``), each built
from the kind's registry entry and parameter model: a good fault of every kind validates into
its own model, a field of another kind is refused naming the kind and what it takes, and the
loader's messages for a bad kind or field stay one readable line."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from testbed.core.errors import ScenarioError
from testbed.faults import params as P
from testbed.faults.registry import REGISTRY, FaultSpec
from testbed.scenario.load import from_data
from testbed.scenario.model import FAULT_MODELS, Fault, Scenario
from testbed.scenario.steps_fault import fault_model

# a good fault of each kind: (its own fields, the fault class's keyword arguments)
GOOD = {
    "hang": ({"mode": "sigstop"}, {"mode": "sigstop"}),
    "kill": ({"signal": "TERM"}, {"signal": "TERM"}),
    "stop": ({"deadline": "10s"}, {"deadline": 10.0}),
    "restart": ({}, {}),
    "replace": ({"config": {"core.parallelism": 4}}, {"config": {"core.parallelism": 4}}),
    "remove": ({}, {}),
    "partition": ({"peer": "postgres"}, {"peer": "postgres"}),
    "link": (
        {"toxic": "latency", "attributes": {"latency": 3000}},
        {"toxic": "latency", "latency": 3000},
    ),
    "rotate_key": ({}, {}),
    "clock_skew": ({"offset": "-10m"}, {"offset": -600.0}),
    "clock_jump": ({"offset": "5m"}, {"offset": 300.0}),
    "pod_delete": ({"grace": "0s"}, {"grace": 0.0}),
    "container_kill": ({"container": "kerberos"}, {"container": "kerberos"}),
    "cpu_throttle": ({"cpus": 0.2}, {"cpus": 0.2}),
    "memory_limit": ({"memory": "300m"}, {"memory": 300 * 2**20}),
    "disk_full": ({"path": "/data", "free": "1m"}, {"path": "/data", "free": 2**20}),
    "dns_failure": ({}, {}),
    "dag_drift": ({"file": "long_task.py"}, {"file": "long_task.py"}),
    "db_lock": (
        {"table": "dag", "where": {"dag_id": "v"}},
        {"table": "dag", "where": {"dag_id": "v"}},
    ),
}


def test_every_registered_kind_has_a_good_example_here():
    assert set(GOOD) == set(REGISTRY)  # a new kind: add its good fault above


@pytest.mark.parametrize("kind", list(REGISTRY))
def test_a_good_fault_of_each_kind_is_its_own_model(kind):
    fields, kwargs = GOOD[kind]
    step = Fault(name="f", kind=kind, target="scheduler", **fields)
    assert type(step) is FAULT_MODELS[kind] and isinstance(step, Fault)
    assert step.spec is REGISTRY[kind] and step.params() == kwargs
    assert Fault.model_validate({"name": "f", "kind": kind, "target": "x", **fields}) == (
        step.model_copy(update={"target": "x"})
    )
    own = set(FAULT_MODELS[kind].model_fields) - set(Fault.model_fields)
    assert own == set(REGISTRY[kind].params.model_fields)  # only the kind's own fields


@pytest.mark.parametrize("kind", list(REGISTRY))
def test_a_field_of_another_kind_is_refused_naming_the_kind_and_what_it_takes(kind):
    taken = set(REGISTRY[kind].params.model_fields)
    others = {f: k for k, (fields, _) in GOOD.items() for f in fields if f not in taken}
    assert others  # every kind lacks some other kind's parameter
    for field, other in others.items():
        with pytest.raises(ValidationError) as exc:
            Fault(name="f", kind=kind, target="scheduler", **{field: GOOD[other][0][field]})
        message = str(exc.value)
        assert f"{field!r} does not apply to a {kind} fault; a {kind} fault takes " in message
        for own in taken:
            assert own in message


def _drill(fault: dict) -> dict:
    return {
        "name": "d",
        "steps": [{"fault": {"name": "f", "target": "scheduler", **fault}}, {"sleep": 1}],
    }


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            {"kind": "kill", "mode": "pause"},
            "drill.yaml: steps.0.fault: 'mode' does not apply to a kill fault; a kill fault "
            "takes process, cmdline, signal (and name, kind, target, for, delay, when, timeout)",
        ),
        (
            {"kind": "restart", "signal": "TERM"},
            "drill.yaml: steps.0.fault: 'signal' does not apply to a restart fault; a restart "
            "fault takes no parameters (and name, kind, target, delay, when, timeout)",
        ),
        (
            {"kind": "freeze"},
            "drill.yaml: steps.0.fault.kind: unknown kind 'freeze'; allowed: hang, kill, stop, "
            f"restart, replace, remove, partition, link, {', '.join(list(REGISTRY)[8:])}",
        ),
        ({}, "drill.yaml: steps.0.fault.kind: Field required"),
        (
            {"kind": "hang", "mdoe": "pause"},
            "drill.yaml: steps.0.fault.mdoe: unknown field; allowed: name, kind, target, for, "
            "delay, when, timeout, process, cmdline, mode",
        ),
        (
            {"kind": "kill", "signal": "USR9"},
            "drill.yaml: steps.0.fault.signal: Input should be 'KILL', 'TERM', 'INT', 'QUIT' or "
            "'HUP' (got 'USR9')",
        ),
        (
            {"kind": "stop", "deadline": "soon"},
            "drill.yaml: steps.0.fault.deadline: bad duration 'soon'",
        ),
    ],
)
def test_the_loader_says_in_one_line_which_field_and_what_is_allowed(fault, message):
    with pytest.raises(ScenarioError) as exc:
        from_data(_drill(fault), "drill.yaml")
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value) and "tagged-union" not in str(exc.value)


def test_a_python_fault_of_an_unknown_kind_names_the_kinds():
    with pytest.raises(ValidationError, match="1 validation error for Fault") as exc:
        Fault(name="f", kind="freeze", target="scheduler")
    assert "'hang', 'kill'" in str(exc.value)


def test_the_scenario_validates_a_fault_step_by_its_kind():
    s = Scenario.model_validate(_drill({"kind": "link", "toxic": "down", "for": "5s"}))
    assert type(s.steps[0]) is FAULT_MODELS["link"] and s.steps[0].for_ == 5


def test_a_new_kind_is_a_registry_entry_and_a_parameter_model():
    class NoopParams(P.Params):
        level: int = 1

    spec = FaultSpec("noop", "x:Noop", "Nothing.", params=NoopParams, healed_by_step=True)
    model = fault_model(spec)
    step = model(name="f", kind="noop", target="scheduler", level=3)
    assert step.params() == {"level": 3} and step.describe().startswith("fault 'f': noop")
    with pytest.raises(ValidationError, match="'for' does not apply to a noop fault"):
        model(name="f", kind="noop", target="scheduler", **{"for": 5})


def test_a_scenario_with_faults_pickles_for_the_parallel_workers():
    import pickle

    steps = [
        {"fault": {"name": k, "target": "scheduler", "kind": k, **f}} for k, (f, _) in GOOD.items()
    ]
    s = Scenario.model_validate({"name": "d", "steps": steps})
    assert pickle.loads(pickle.dumps(s)) == s


def test_another_kinds_parameter_left_empty_is_not_given():
    step = Fault(name="f", kind="kill", target="scheduler", mode=None, attributes={})
    assert type(step) is FAULT_MODELS["kill"] and step.params() == {}


def test_cpu_throttle_is_bounded_and_only_on_docker():
    with pytest.raises(ValidationError, match="greater than or equal to 0.01"):
        Fault(name="f", kind="cpu_throttle", target="scheduler", cpus=0)
    k8s = {"backend": "kubernetes"}
    step = {"fault": {"name": "f", "kind": "cpu_throttle", "target": "scheduler", "for": "5s"}}
    data = {"name": "x", "topology": k8s, "steps": [step, {"expect": {"check": "no_task_lost"}}]}
    with pytest.raises(ScenarioError, match="cpu_throttle.*docker"):
        from_data(data)


@pytest.mark.parametrize(
    ("memory", "error"),
    [
        (None, "needs 'memory', the limit"),
        ("8m", "greater than or equal to 16777216"),
        ("lots", "bad size 'lots'; use e.g. 300m, 1g"),
        ("1.5g", "bad size"),
    ],
)
def test_memory_limit_needs_a_size_of_at_least_16_mib(memory, error):
    with pytest.raises(ValidationError, match=error):
        Fault(name="f", kind="memory_limit", target="worker-1", memory=memory)


def test_db_lock_names_a_table_and_targets_the_metadata_database():
    with pytest.raises(ValidationError, match="needs 'table'"):
        Fault(name="f", kind="db_lock", target="postgres")
    with pytest.raises(ValidationError, match="String should match pattern"):
        Fault(name="f", kind="db_lock", target="postgres", table="dag; drop table dag")
    with pytest.raises(ValidationError, match="String should match pattern"):
        Fault(name="f", kind="db_lock", target="postgres", table="dag", where={"a b": 1})
    step = {"fault": {"name": "f", "kind": "db_lock", "target": "scheduler", "table": "dag"}}
    data = {"name": "x", "steps": [step, {"expect": {"check": "no_task_lost"}}]}
    with pytest.raises(ScenarioError, match="targets the metadata database: postgres"):
        from_data(data)


def test_sizes_read_binary_units():
    from testbed.core.values import parse_size

    assert [parse_size(v) for v in ("1g", "300MB", "64k", 4096)] == [
        2**30,
        300 * 2**20,
        65536,
        4096,
    ]


def test_validation_reads_what_a_kind_targets_and_needs_from_its_registry_entry(monkeypatch):
    from dataclasses import replace

    from testbed.faults.registry import TARGETS

    assert {s.targets for s in REGISTRY.values()} <= set(TARGETS)
    hang = FAULT_MODELS["hang"]
    step = {"fault": {"name": "f", "kind": "hang", "target": "scheduler", "for": "5s"}}
    data = {"name": "x", "steps": [step, {"expect": {"check": "no_task_lost"}}]}
    assert from_data(data)  # a hang of the scheduler is fine as registered
    monkeypatch.setattr(hang, "spec", replace(hang.spec, needs_kerberos=True))
    with pytest.raises(ScenarioError, match=r"a hang fault needs `topology: \{kerberos: true\}`"):
        from_data(data)
    monkeypatch.setattr(hang, "spec", replace(hang.spec, needs_kerberos=False, targets="link"))
    with pytest.raises(ScenarioError, match="no link 'scheduler'"):
        from_data(data)


K8S_KERBEROS = {"backend": "kubernetes", "executor": "CeleryExecutor", "workers": 2,
                "kerberos": True}  # fmt: skip


def _k8s(fault: dict, topology: dict = K8S_KERBEROS) -> dict:
    return {"name": "d", "topology": topology,
            "steps": [{"fault": {"name": "f", "kind": "container_kill", **fault}},
                      {"heal": "f"}, {"expect": {"check": "no_task_lost"}}]}  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "topology", "message"),
    [
        ({"target": "worker-1", "container": "kerbros"}, K8S_KERBEROS,
         "steps.0.fault.container: worker-1's pod has the containers worker-1, kerberos; not "
         "'kerbros'"),
        ({"target": "scheduler", "container": "kerberos"}, K8S_KERBEROS,
         "scheduler's pod has the containers scheduler; not 'kerberos'"),
        ({"target": "worker-1", "container": "kerberos"}, {**K8S_KERBEROS, "kerberos": False},
         "worker-1's pod has the containers worker-1; not 'kerberos'"),
        ({"target": "worker-9"}, K8S_KERBEROS, "steps.0.fault.target: unknown pod role"),
        ({"target": "worker-1"}, {"workers": 2},
         "a container_kill fault needs `topology: {backend: kubernetes}`"),
    ],
)  # fmt: skip
def test_a_container_kill_names_a_container_of_the_roles_pod(fault, topology, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        from_data(_k8s(fault, topology), "d.yaml")


def test_a_container_kill_of_a_sidecar_or_a_roles_own_container_validates():
    for fault in ({"target": "worker-1", "container": "kerberos"}, {"target": "scheduler"}):
        step = from_data(_k8s(fault), "d.yaml").steps[0]
        assert step.kind == "container_kill" and step.target == fault["target"]
