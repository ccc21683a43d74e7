"""Node faults: replace (a fresh container for the same node, optionally running other Airflow
options or a secret of its own: the fault is the setting, its heal the fix) and remove (the
node's container gone, its disk with it; the heal boots a fresh node of the same name).
"""

from __future__ import annotations

import base64
import os
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any

from testbed import runtime, timescale
from testbed.faults.base import Fault

if TYPE_CHECKING:
    from testbed.cluster import Cluster


class Replace(Fault):
    """Remove the node's container and boot a fresh one with the same spec and hostname.

    With ``config`` ({"section.key": value}, Airflow options), the fresh node runs with those
    options instead (``AIRFLOW__SECTION__KEY`` in its environment, e.g. a sidecar with another
    ``kerberos.reinit_frequency``), and the heal replaces it again with the topology's own
    node: the fault is the setting, its heal the fix."""

    kind = "replace"

    def __init__(
        self,
        cluster: Cluster,
        target: str,
        config: dict | None = None,
        secrets: list[str] | None = None,
        **kw,
    ) -> None:
        super().__init__(cluster, target, **kw)
        self.config = {k: str(v) for k, v in (config or {}).items()}
        self.secrets = list(secrets or [])

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"secrets": self.secrets} if self.secrets else {}
        if not self.config:
            return out
        in_force = self.in_force()
        out["config"] = self.config
        return out | ({"in_force": in_force} if in_force != self.config else {})

    def in_force(self) -> dict[str, str]:
        """The options as the node gets them: a timer scaled by the cluster's timescale."""
        ts = self.cluster.topology.timescale if self.cluster is not None else 1.0
        return {k: timescale.option(k, v, ts) for k, v in self.config.items()}

    def _inject(self) -> None:
        env = config_env(self.in_force()) | config_env(fresh_secrets(self.secrets))
        self.cluster.replace_node(self.target, env=env)

    def _heal(self) -> None:
        if self.config or self.secrets:  # back to the topology's settings
            self.cluster.replace_node(self.target)
        elif runtime.state(self.container) != "running":
            self.container.start()


def fresh_secrets(names: list[str]) -> dict[str, str]:
    """A new value for each secret option (a fernet key where Airflow wants one): given as the
    plain option in the node's environment, which Airflow reads before the cluster's ``_cmd``.
    A throwaway value, never the cluster's own, and never recorded (``docker inspect`` of that
    node shows it, as it shows the cluster's API and JWT secrets)."""
    out = {}
    for name in names:
        if name == "core.fernet_key":
            out[name] = base64.urlsafe_b64encode(os.urandom(32)).decode()
        else:
            out[name] = token_urlsafe(32)
    return out


def config_env(config: dict[str, str]) -> dict[str, str]:
    """{"kerberos.reinit_frequency": "150"} -> {"AIRFLOW__KERBEROS__REINIT_FREQUENCY": "150"}."""
    out = {}
    for dotted, value in config.items():
        section, _, key = dotted.partition(".")
        out[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    return out


class Remove(Fault):
    """Remove the node's container entirely (its local disk with it); the heal boots a fresh
    node of the same name, so the cluster is whole again for the next scenario."""

    kind = "remove"

    def _inject(self) -> None:
        self.cluster.remove_node(self.target)

    def _heal(self) -> None:
        if self.target not in self.cluster.nodes:
            self.cluster.add_node(self.target)
