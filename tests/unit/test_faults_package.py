"""The faults package: one module per family, every name the one-file ``testbed/faults.py``
had still importable from ``testbed.faults`` (re-exported from its family module)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import typing

import pytest

from testbed import faults

# the public names of the former testbed/faults.py that importers use
FORMER_NAMES = [
    "Fault",
    "FaultError",
    "Hang",
    "Kill",
    "Stop",
    "Restart",
    "Replace",
    "Remove",
    "Partition",
    "LinkFault",
    "ClockSkew",
    "RotateKey",
    "KERBEROS_FAULTS",
    "SKEWABLE",
    "FAKETIME_LIB",
    "TOXICS",
    "K8S_SETTLE",
    "STOP_WAIT",
    "heal_audit",
    "heal_proxy",
    "link_proxies",
    "named_pids",
    "main_pid",
    "descendants",
    "process_state",
    "wait_stopped",
    "stopped_pids",
    "ip_of",
    "on_network",
    "config_env",
    "faketime_env",
]


@pytest.mark.parametrize("name", FORMER_NAMES)
def test_every_former_name_resolves_to_its_family_modules_object(name):
    value = getattr(faults, name)
    if name == "FaultError":
        return
    home = importlib.import_module(f"testbed.faults.{faults._HOME[name]}")
    assert getattr(home, name) is value


def test_all_lists_exactly_the_reexported_names():
    assert sorted(faults.__all__) == sorted(["FaultError", *faults._HOME])
    assert set(FORMER_NAMES) <= set(faults.__all__)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        faults.Nope  # noqa: B018


def test_the_kubernetes_fault_builds_on_the_same_base():
    from testbed.faults import pod as kf

    assert issubclass(kf.PodDelete, faults.Fault)
    assert kf.descendants is faults.descendants


def test_the_registry_resolves_each_kind_to_its_class_taking_its_params():
    from testbed import engine
    from testbed.faults import registry

    assert list(engine.FAULTS) == list(registry.KINDS)
    for kind, spec in registry.REGISTRY.items():
        cls = engine.FAULTS[kind]
        assert issubclass(cls, faults.Fault) and cls.kind == kind, kind
        takes = inspect.signature(cls.__init__).parameters
        for param in spec.params.model_fields:
            if param != "attributes":  # a link's toxic attributes are its **params
                assert param in takes, (kind, param)
        assert spec.doc.endswith(".") and "\n" not in spec.doc, kind


FORMER_KINDS = (
    "hang", "kill", "stop", "restart", "replace", "remove", "partition", "link",
    "rotate_key", "clock_skew", "pod_delete",
)  # fmt: skip


def test_the_names_derived_from_the_registry_are_those_the_dsl_had():
    """For the kinds the DSL had before the registry (a kind added later adds to these)."""
    from testbed.checks import logs
    from testbed.scenario import chaos_generate as generate
    from testbed.scenario import model

    def former(names):
        return tuple(k for k in names if k in FORMER_KINDS)

    assert former(typing.get_args(model.FaultKind)) == FORMER_KINDS  # the order of messages
    params = {k: v for k, v in model.FAULT_PARAMS.items() if k in FORMER_KINDS}
    assert params == {
        "hang": {"mode", "process", "cmdline"},
        "kill": {"signal", "process", "cmdline"},
        "stop": {"deadline"},
        "partition": {"peer"},
        "link": {"toxic", "attributes"},
        "replace": {"config", "secrets"},
        "clock_skew": {"offset"},
        "pod_delete": {"grace"},
    }
    healed = set(former(model.HEALED_BY_STEP))
    assert healed == {"remove", "replace", "restart", "clock_skew", "pod_delete"}
    losing = {"kill", "restart", "stop", "remove", "replace", "pod_delete"}
    assert set(former(logs.LOSING_FAULTS)) == losing  # pod_delete: a worker's pod mid-task
    chaos = ("hang", "kill", "restart", "partition", "link", "pod_delete")
    assert former(generate.KINDS) == chaos  # pod_delete: chaos on Kubernetes
    assert former(generate.NODE_KINDS) == ("hang", "kill", "restart", "partition")
    assert generate.POD_KINDS == ("pod_delete",)


def test_the_registry_and_its_readers_import_no_docker():
    code = (
        "import sys, testbed.faults.registry, testbed.checks, testbed.scenario.chaos_generate; "
        "print(sorted({'docker', 'requests', 'testbed.faults.process'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cpu_quota_of_a_container_gone_meanwhile_is_none_not_an_error():
    import docker.errors

    from testbed.faults.resource import cpu_quota

    class Gone:
        def reload(self):
            raise docker.errors.NotFound("no such container")

    assert cpu_quota(Gone()) is None
