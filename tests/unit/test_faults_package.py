"""The faults package: one module per family, every name the one-file ``testbed/faults.py``
had still importable from ``testbed.faults`` (re-exported from its family module)."""

from __future__ import annotations

import importlib

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
    from testbed.k8s import faults as kf

    assert issubclass(kf.PodDelete, faults.Fault)
    assert kf.descendants is faults.descendants
