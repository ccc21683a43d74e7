"""What the kerberized server itself logged about refused sessions (``service_log``).

A task whose session the server refuses (a rotated key the server's keytab lacks, a clock
beyond the tolerance) may see no reason at all: libpq reports ``connection to server ...
failed:`` and nothing after it. The reason is in the server's log (``could not accept GSSAPI
security context`` and its DETAIL line, e.g. "Request ticket server ... kvno 2 not found in
keytab", "Ticket expired"). This probe reads those lines, written since a run was triggered,
from the kerberized Postgres' container log (Docker's timestamps: a node with a skewed clock
stamps its own lines with its own time).

The engine runs :data:`GATHERERS` beside :data:`testbed.observe.GATHERERS`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from testbed import observe
from testbed.topology import PG_KRB

if TYPE_CHECKING:
    from testbed.cluster import Cluster

SERVICE_LOG_LINE = re.compile(r"(?i)gss|kerberos|ticket|kvno|keytab|skew|minor code")
MAX_LINES = 40


def service_log(cluster: Cluster, name: str, since_wall: float, node: str = PG_KRB) -> dict:
    """The GSSAPI lines of ``node``'s log written since ``since_wall`` (epoch seconds), as the
    ``service_log`` observation of run ``name``."""

    def fn() -> Any:
        c = cluster.container(node)
        raw = c.logs(stdout=True, stderr=True, since=int(since_wall))
        lines = raw.decode("utf-8", "replace").splitlines()
        hits = [ln[:400] for ln in lines if SERVICE_LOG_LINE.search(ln)]
        return {"run": name, "node": node, "lines": hits[-MAX_LINES:]}

    return observe.observe(cluster, "service_log", name, fn)


def gather_service_log(cluster: Cluster, runs: dict, params: Any) -> None:
    """For a check with ``server_error``: the server's log since its run was triggered."""
    name = getattr(params, "run", None)
    if getattr(params, "server_error", None) is None or name not in runs:
        return
    node = getattr(params, "server", PG_KRB)
    if node not in cluster.nodes:
        return
    triggers = cluster.history.events("trigger")
    since = next((e["wall"] for e in triggers if e.get("name") == name), None)
    if since is not None:
        service_log(cluster, name, since - 1.0, node)


GATHERERS = {"service_log": gather_service_log}
