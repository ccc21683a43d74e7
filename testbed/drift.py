"""Drift between the nodes of one cluster: what each Airflow node really runs with (its effective
configuration as Airflow reads it, the content of its DAG folder, its Airflow packages) and
where the nodes disagree. The production guide's "make sure that every node in the cluster
contains the same configuration and DAGs", checked after the fact, the way a team would after a
deploy (``testbed audit``, and the ``config_drift`` check over recorded snapshots).

:data:`SNAPSHOT_SCRIPT` runs inside a node (``python -c``) and prints its snapshot: sensitive
options (Airflow's own list) as a fingerprint, never their value. :func:`compare` is pure.

Not drift: the options the testbed sets per node on purpose (:data:`PER_NODE`: each node's own
Toxiproxy link to the database, broker and Execution API, its name in ``pg_stat_activity``),
and the worker-only ones (:data:`WORKER_ONLY`: the Kerberos client settings), which are
compared among the workers only.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from dataclasses import dataclass, field

from testbed.topology import holds_dags, role_is_worker

# Reading the configuration needs none of what ``import airflow`` initializes (logging, the
# ORM, plugins): with Airflow's ``_AIRFLOW__AS_LIBRARY`` set, a read costs half the CPU
# (`make bench-stop`), with the same output (checked on 2.11.2, 3.1.7 and 3.3.2).
AS_LIBRARY = 'import os; os.environ["_AIRFLOW__AS_LIBRARY"] = "1"'
# Prints {"config": {"section.key": value or "sha256:..."} (the options not at Airflow's
# default; a sensitive value's fingerprint salted with argv[1], a secret of the testbed's
# process that is never recorded, so a weak secret cannot be guessed back from a record),
# "dags": {path: sha256} or null (no DAG folder), "packages": {name: version}} for the node it
# runs on.
SNAPSHOT_SCRIPT = (
    AS_LIBRARY
    + r"""
import hashlib, json, os, sys
import importlib.metadata as md
from airflow.configuration import conf

salt = sys.argv[1].encode() if len(sys.argv) > 1 else b""

def fp(text):
    return "sha256:" + hashlib.sha256(salt + text.encode()).hexdigest()[:16]

sensitive = set(conf.sensitive_config_values)
config = {}
# as_dict names every option; conf.get is the value Airflow uses (as_dict reports a _cmd's
# output even where a plain environment variable wins over it); Airflow's defaults left out
for section, options in conf.as_dict(display_source=False, display_sensitive=True).items():
    for key in options:
        value = conf.get(section, key, fallback=None)
        if value is None or str(value) == str(conf.get_default_value(section, key, fallback="")):
            continue
        config[f"{section}.{key}"] = fp(str(value)) if (section, key) in sensitive else str(value)
folder = conf.get("core", "dags_folder")
dags = None
if os.path.isdir(folder):
    dags = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".git"))
        for name in sorted(names):
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                dags[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()[:16]
packages = {}
for dist in md.distributions():
    name = (dist.metadata["Name"] or "").lower()
    if name.startswith("apache-airflow"):
        packages[name] = dist.version
print(json.dumps({"config": config, "dags": dags, "packages": packages}))
"""
)

# set per node by the testbed on purpose (each node's own Toxiproxy links, its own name)
PER_NODE = (
    "database.sql_alchemy_conn",
    "database.sql_alchemy_conn_async",
    "celery.broker_url",
    "celery.result_backend",
    "core.execution_api_server_url",
)
WORKER_ONLY = ("core.security", "kerberos.*")  # compared among the workers only
ABSENT = {"config": "(default)", "dag": "(absent)", "package": "(absent)"}


@dataclass(frozen=True)
class Difference:
    """One item on which the nodes disagree: ``values`` maps each value seen to its nodes."""

    kind: str  # "config", "dag", "package"
    item: str  # "core.fernet_key", "long_task.py", "apache-airflow-providers-celery"
    values: dict[str, list[str]]

    @property
    def odd(self) -> list[str]:
        """The nodes outside the largest group (all of them on a tie)."""
        groups = sorted(self.values.values(), key=len, reverse=True)
        if len(groups) > 1 and len(groups[0]) == len(groups[1]):
            return sorted(n for g in groups for n in g)
        return sorted(n for g in groups[1:] for n in g)

    def line(self) -> str:
        seen = "; ".join(f"{', '.join(nodes)}: {value}" for value, nodes in self.values.items())
        return f"{self.kind} {self.item}: {seen}"


@dataclass
class Report:
    nodes: list[str]
    differences: list[Difference] = field(default_factory=list)
    unread: dict[str, str] = field(default_factory=dict)  # node -> why its snapshot is missing

    @property
    def clean(self) -> bool:
        return not self.differences and not self.unread

    def lines(self) -> list[str]:
        out = [d.line() for d in self.differences]
        out += [f"{node}: not read ({why})" for node, why in self.unread.items()]
        return out


def _scoped(item: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(item, p) for p in patterns)


def _differences(kind: str, seen: dict[str, dict[str, str]]) -> list[Difference]:
    """Per item, the nodes grouped by value (an item missing on a node: :data:`ABSENT`)."""
    items = sorted({i for values in seen.values() for i in values})
    out = []
    for item in items:
        groups: dict[str, list[str]] = defaultdict(list)
        for node, values in seen.items():
            groups[values.get(item, ABSENT[kind])].append(node)
        if len(groups) > 1:
            out.append(Difference(kind, item, dict(groups)))
    return out


def _config(snapshots: dict[str, dict]) -> list[Difference]:
    shared = {
        n: {k: v for k, v in s["config"].items() if not _scoped(k, PER_NODE + WORKER_ONLY)}
        for n, s in snapshots.items()
    }
    workers = {
        n: {k: v for k, v in s["config"].items() if _scoped(k, WORKER_ONLY)}
        for n, s in snapshots.items()
        if role_is_worker(n)
    }
    return _differences("config", shared) + _differences("config", workers)


def _must_hold_dags(node: str, snapshot: dict) -> bool:
    """:func:`testbed.topology.holds_dags`, the executor read from the snapshot (Airflow's
    default, the LocalExecutor, when it leaves ``core.executor`` out); none with a DAG bundle
    configured (``dag_processor.dag_bundle_config_list``: the bundle fetches the DAGs)."""
    if "dag_processor.dag_bundle_config_list" in snapshot["config"]:
        return False
    local = snapshot["config"].get("core.executor", "LocalExecutor") == "LocalExecutor"
    return holds_dags(node, local)


def _dag_holders(snapshots: dict[str, dict]) -> dict[str, dict[str, str]]:
    """The DAG folders compared: every node holding DAG files, and every node that must (an
    empty folder there is drift too). The api-server, the triggerer and a CeleryExecutor's
    scheduler get none here (they read serialized DAGs)."""
    return {
        n: s.get("dags") or {}
        for n, s in snapshots.items()
        if s.get("dags") or _must_hold_dags(n, s)
    }


def compare(snapshots: dict[str, dict], unread: dict[str, str] | None = None) -> Report:
    """Where the nodes' snapshots disagree: configuration (per-node options left out, worker
    options among workers), DAG files (:func:`_dag_holders`), packages."""
    differences = _config(snapshots)
    differences += _differences("dag", _dag_holders(snapshots))
    differences += _differences("package", {n: s["packages"] for n, s in snapshots.items()})
    return Report(sorted(snapshots), differences, dict(unread or {}))
