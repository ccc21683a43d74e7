"""Faults (Jepsen's nemeses): each a context manager whose ``heal`` is idempotent and always runs.

``with Hang(cluster, "scheduler"):`` injects on enter and heals on exit, even when the body
raised. Inject and heal are recorded in the run's history; a heal that fails is recorded as
``heal_failed`` and reported by the heal audit, and never replaces the body's own exception.

One module per family, like :mod:`testbed.checks`:

- :mod:`~testbed.faults.base`: the :class:`Fault` base class (inject, idempotent heal, records);
- :mod:`~testbed.faults.process`: hang, kill, stop, restart (of a node, or of the processes
  a ``process`` or ``cmdline`` names inside it: :mod:`~testbed.faults.process_roles`);
- :mod:`~testbed.faults.proc`: a node's processes as /proc shows them;
- :mod:`~testbed.faults.node`: replace (optionally with Airflow options), remove;
- :mod:`~testbed.faults.network`: partition (off the network, or one link by iptables),
  dns_failure;
- :mod:`~testbed.faults.link`: Toxiproxy link faults (a toxic, or ``down``);
- :mod:`~testbed.faults.kerberos`: clock_skew, rotate_key; :mod:`~testbed.faults.clock`:
  clock_jump (a running Airflow node's clock stepped);
- :mod:`~testbed.faults.resource`: cpu_throttle, memory_limit; :mod:`~testbed.faults.disk`:
  disk_full; :mod:`~testbed.faults.database`: db_lock;
- :mod:`~testbed.faults.audit`: the heal audit;
- :mod:`testbed.faults.pod`: pod_delete (the Kubernetes backend).

:mod:`~testbed.faults.registry` is the one table of fault kinds (the parameter model, flags,
backends, a line of description, where the class lives); it and the parameter models
(:mod:`~testbed.faults.params`) are pure, so the scenario model, the checks and the chaos
generator read them without Docker. :mod:`~testbed.faults.kinds` resolves it to classes for
the engine. The names below are re-exported lazily (on first use), so importing the
registry does not import the fault implementations (Docker, HTTP clients) with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from testbed.core.errors import FaultError

if TYPE_CHECKING:  # the same names, for type checkers and readers
    from testbed.faults.audit import K8S_SETTLE, heal_audit
    from testbed.faults.base import Fault
    from testbed.faults.kerberos import (
        FAKETIME_LIB,
        KERBEROS_FAULTS,
        SKEWABLE,
        ClockSkew,
        RotateKey,
        faketime_env,
    )
    from testbed.faults.link import TOXICS, LinkFault, heal_proxy, link_proxies
    from testbed.faults.network import Partition, ip_of, on_network
    from testbed.faults.node import Remove, Replace, config_env
    from testbed.faults.proc import (
        STOP_WAIT,
        command_line,
        descendants,
        main_pid,
        matching_pids,
        named_pids,
        process_state,
        stopped_pids,
        wait_stopped,
    )
    from testbed.faults.process import Hang, Kill, Restart, Stop

_HOMES = {  # the family module of each re-exported name
    "audit": ("K8S_SETTLE", "heal_audit"),
    "base": ("Fault",),
    "kerberos": (
        "FAKETIME_LIB",
        "KERBEROS_FAULTS",
        "SKEWABLE",
        "ClockSkew",
        "RotateKey",
        "faketime_env",
    ),
    "link": ("TOXICS", "LinkFault", "heal_proxy", "link_proxies"),
    "network": ("Partition", "ip_of", "on_network"),
    "node": ("Remove", "Replace", "config_env"),
    "process": ("Hang", "Kill", "Restart", "Stop"),
    "proc": (
        "STOP_WAIT",
        "command_line",
        "descendants",
        "main_pid",
        "matching_pids",
        "named_pids",
        "process_state",
        "stopped_pids",
        "wait_stopped",
    ),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ClockSkew",
    "FAKETIME_LIB",
    "Fault",
    "FaultError",
    "Hang",
    "K8S_SETTLE",
    "KERBEROS_FAULTS",
    "Kill",
    "LinkFault",
    "Partition",
    "Remove",
    "Replace",
    "Restart",
    "RotateKey",
    "SKEWABLE",
    "STOP_WAIT",
    "Stop",
    "TOXICS",
    "command_line",
    "config_env",
    "descendants",
    "faketime_env",
    "heal_audit",
    "heal_proxy",
    "ip_of",
    "link_proxies",
    "main_pid",
    "matching_pids",
    "named_pids",
    "on_network",
    "process_state",
    "stopped_pids",
    "wait_stopped",
]


def __getattr__(name: str) -> Any:
    """``faults.Hang`` and ``from testbed.faults import Hang``: the family module's name, imported
    on first use and then kept here (so ``monkeypatch.setattr(faults, ...)`` works as before)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
