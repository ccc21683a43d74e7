"""Kerberos probes (clusters with ``kerberos: true``): the shared credential cache as a worker
sees it, a scan for keys on a node, what the kerberized tasks of a run returned (and the
Kerberos lines of their failed attempts' logs), and what the kerberized server itself logged
about refused sessions (``service_log``).

A task whose session the server refuses (a rotated key the server's keytab lacks, a clock
beyond the tolerance) may see no reason at all: libpq reports ``connection to server ...
failed:`` and nothing after it. The reason is in the server's log (``could not accept GSSAPI
security context`` and its DETAIL line, e.g. "Request ticket server ... kvno 2 not found in
keytab", "Ticket expired"). :func:`service_log` reads those lines, written since a run was
triggered, from the kerberized Postgres' container log (Docker's timestamps: a node with a
skewed clock stamps its own lines with its own time).

The engine runs :data:`GATHERERS` and :data:`SERVICE_LOG_GATHERERS` (see
:mod:`testbed.engine.gathering`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbed import airflow_config as AC
from testbed import runtime
from testbed.observe import core
from testbed.observe.core import observe
from testbed.observe.logs import failed_task_logs, latest_instances
from testbed.services import postgres
from testbed.topology import PG_KRB

if TYPE_CHECKING:
    from testbed.cluster import Cluster

KERBEROS_THROTTLE = {"kerberos_ticket": 2.0, "keytab_scan": 30.0}  # seconds between repeats
_LAST_PROBE: dict[tuple[str, str, str], float] = {}  # (history file, probe, node) -> when


def _due(cluster: Cluster, probe: str, target: str) -> bool:
    """Whether ``probe`` of ``target`` may run again (a check's gather polls every second)."""
    # per history file: a scenario's first gather always probes (its history starts empty)
    key, now = (str(cluster.history.path), probe, target), time.monotonic()
    if now - _LAST_PROBE.get(key, float("-inf")) < KERBEROS_THROTTLE.get(probe, 0.0):
        return False
    _LAST_PROBE[key] = now
    return True


def kerberos_ticket(cluster: Cluster, node: str) -> dict:
    """``klist`` of the shared credential cache as ``node`` (a worker: what its tasks will use)
    sees it, parsed (principal, each ticket's start/expiry), with the node's and its sidecar's
    container state, restart count and start time (the sidecar exits when a kinit fails; its
    restart policy brings it back)."""
    from testbed.services import kerberos

    def fn() -> Any:
        r = cluster.exec_in(node, ["klist", "-c", AC.CCACHE], timeout=core.PROBE_TIMEOUT)
        value: dict[str, Any] = (
            kerberos.parse_klist(r.output)
            if r.exit_code == 0
            else {"principal": None, "tickets": [], "klist_error": r.output.strip()[-200:]}
        )
        try:  # the states are extra: the cache's contents are the observation
            value.update(_states(cluster, node))
        except Exception as exc:
            value["state_error"] = str(exc)[:200]
        return value

    return observe(cluster, "kerberos_ticket", node, fn)


def _states(cluster: Cluster, node: str) -> dict[str, dict]:
    """The worker's and its sidecar's state, restarts and start: their containers' on Docker,
    the two containers of the worker's pod on Kubernetes."""
    from testbed.services import kerberos

    if node in cluster.topology.pods:
        from testbed.k8s import kerberos as k8s_kerberos
        from testbed.k8s import pod_state

        states = pod_state.container_states(pod_state.running_pod(cluster, node))
        pairs = (("node", node), ("sidecar", k8s_kerberos.SIDECAR))
        return {key: states[name] for key, name in pairs if name in states}
    out = {}
    for key, name in (("node", node), ("sidecar", kerberos.sidecar_of(node))):
        c = cluster.nodes.get(name)
        if c is not None:  # state() reloads the container's attributes
            out[key] = {
                "state": runtime.state(c),
                "restarts": c.attrs.get("RestartCount", 0),
                "started_at": c.attrs.get("State", {}).get("StartedAt"),
            }
    return out


def keytab_scan(cluster: Cluster, node: str) -> dict:
    """Look for keys on ``node``: keytab files anywhere on its filesystem (as root), keytab
    variables in its processes' environments (as its own user), its mounts, whether the
    credential cache can be written (as root and as its user), and, from the engine's side, the
    container's mounts and configured environment (keytab variables; whether the KDC's master
    password appears anywhere in it)."""
    from testbed.services import keytab_scan as scan

    source = Path(scan.__file__).read_text()
    base = ["python3", "-c", source, "--cache", AC.CCACHE]

    def fn() -> Any:
        as_root = cluster.backend.diag_exec(cluster, node, base, timeout=60, user="root")
        as_user = cluster.exec_in(node, [*base, "--user"], timeout=20)
        for r in (as_root, as_user):
            if r.exit_code != 0:
                raise RuntimeError(f"scan exited {r.exit_code}: {r.output.strip()[-200:]}")
        value = json.loads(as_root.output.strip().splitlines()[-1])
        user = json.loads(as_user.output.strip().splitlines()[-1])
        value["env"], value["cache_as_user"] = user["env"], user["cache"]
        mounts, env = _configured(cluster, node)
        secret = cluster.secrets.kdc_master_password
        value["container"] = {
            "mounts": mounts,
            "keytab_env": _keytab_names(env),
            "kdc_password_in_env": bool(secret) and any(secret in e for e in env),
        }
        return value

    return observe(cluster, "keytab_scan", node, fn, timeout=60)


def _keytab_names(env: list[str]) -> list[str]:
    """The names (never the values) of the variables that name a keytab (``KRB5_KTNAME``,
    ``...KEYTAB``) among ``NAME=value`` entries."""
    names = [e.split("=", 1)[0] for e in env]
    return [n for n in names if "KTNAME" in n or "KEYTAB" in n]


def _configured(cluster: Cluster, node: str) -> tuple[list[dict], list[str]]:
    """A node's configured mounts and environment (``NAME=value``): its container's on Docker;
    on Kubernetes its pod's container's (the environment from the Secrets it is given)."""
    if node in cluster.topology.pods:
        from testbed.k8s import pod_state

        config = pod_state.container_config(cluster, pod_state.running_pod(cluster, node), node)
        return config["mounts"], [f"{k}={v}" for k, v in config["env"].items()]
    c = cluster.container(node)
    c.reload()
    mounts = [
        {"destination": m.get("Destination"), "name": m.get("Name"), "rw": m.get("RW")}
        for m in c.attrs.get("Mounts", [])
    ]
    return mounts, c.attrs["Config"].get("Env") or []


XCOM_SQL = (
    "select task_id, map_index, value from xcom where dag_id = %s and run_id = %s "
    "and key = 'return_value' order by task_id, map_index"
)


def kerberos_results(cluster: Cluster, name: str, dag_id: str, run_id: str) -> dict:
    """What the kerberized tasks of a run returned (their XComs: the server's view of their
    session, from ``pg_stat_gssapi``), keyed by ``"task_id[map_index]"``."""

    def fn() -> Any:
        rows = postgres.query(cluster, XCOM_SQL, (dag_id, run_id), timeout=core.PROBE_TIMEOUT)
        return {"run": name, "xcom": {f"{t}[{i}]": v for t, i, v in rows}}

    return observe(cluster, "kerberos_xcom", name, fn)


def _is_worker_here(cluster: Cluster, node: str) -> bool:
    """A node of this cluster (a container), or a role's pod on Kubernetes."""
    return node in cluster.nodes or node in cluster.topology.pods


def gather_kerberos_tickets(cluster: Cluster, runs: dict, params: Any) -> None:
    for node in getattr(params, "targets", None) or cluster.topology.worker_names:
        if _is_worker_here(cluster, node) and _due(cluster, "kerberos_ticket", node):
            kerberos_ticket(cluster, node)


def gather_keytab_scans(cluster: Cluster, runs: dict, params: Any) -> None:
    for node in getattr(params, "targets", None) or cluster.topology.worker_names:
        if _is_worker_here(cluster, node) and _due(cluster, "keytab_scan", node):
            keytab_scan(cluster, node)


def gather_kerberos_tasks(cluster: Cluster, runs: dict, params: Any) -> None:
    name = getattr(params, "run", None)
    if name not in runs:
        return
    dag_id, run_id = runs[name]
    kerberos_results(cluster, name, dag_id, run_id)
    failed_task_logs(cluster, name, dag_id, run_id, latest_instances(cluster, dag_id, run_id))


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

    return observe(cluster, "service_log", name, fn)


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


# What the engine runs before evaluating a check that declares one of these needs (CheckSpec):
# the cluster's own Kerberos looks, and the kerberized server's log.
GATHERERS: dict[str, Callable[[Cluster, dict, Any], None]] = {
    "kerberos_ticket": gather_kerberos_tickets,
    "keytab_scan": gather_keytab_scans,
    "kerberos_task": gather_kerberos_tasks,
}
SERVICE_LOG_GATHERERS = {"service_log": gather_service_log}
