"""The topology's checks that span several fields: the keys of an existing Kubernetes cluster,
and what an Airflow 2 cluster runs. Pure; :class:`testbed.topology.Topology` calls them as it
is made (``t``: the topology, typed loosely: it imports this module)."""

from __future__ import annotations

import re
from typing import Any

from testbed.core.errors import TestbedError

_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def existing(t: Any) -> None:
    """An existing cluster: Kubernetes, its kubeconfig and registry both given, a
    namespace name Kubernetes accepts."""
    given = [k for k in ("kubeconfig", "registry") if getattr(t, k)]
    if given and not t.kubernetes:
        raise TestbedError(f"{', '.join(given)}: an existing cluster needs backend: kubernetes")
    if given and len(given) < 2:
        missing = {"kubeconfig", "registry"} - set(given)
        raise TestbedError(
            f"{given[0]} given without {missing.pop()}: an existing cluster needs both "
            "(its kubeconfig, and the registry its nodes pull the testbed's images from)"
        )
    if t.registry and not _REGISTRY.match(t.registry):
        raise TestbedError(f"registry {t.registry!r}: expected HOST:PORT (e.g. 127.0.0.1:5000)")
    if not _NAMESPACE.match(t.namespace):
        raise TestbedError(
            f"namespace {t.namespace!r}: lowercase letters, digits and '-' (at most 63)"
        )


def airflow_2(t: Any) -> None:
    """What an Airflow 2 cluster runs: Docker (so the Celery or Local executor), the DAGs
    copied; the rest is Airflow 3's (the git bundle, the Kubernetes chart's pods as the
    testbed builds them) or not built for Airflow 2 yet (Kerberos, clock jumps)."""
    refused = {
        "backend": t.backend != "docker",
        "dag_sync": t.dag_sync != "copy",
        "kerberos": t.kerberos,
        "clock_jumps": t.clock_jumps,
        # the timers it scales carry Airflow 3's names
        "timescale": t.timescale != 1.0,
    }
    bad = [name for name, is_bad in refused.items() if is_bad]
    if bad:
        raise TestbedError(
            f"airflow_version {t.airflow_version}: {', '.join(bad)} not built for "
            "Airflow 2 (it runs on backend docker, dag_sync copy, timescale 1, without "
            "kerberos or clock_jumps)"
        )
