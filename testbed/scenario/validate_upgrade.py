"""The scenario validation's rules for an ``upgrade`` step (pure): known nodes, ``rollback:``
and ``local:`` only where they apply, Kubernetes' own rules; and for Airflow 2 -> 3: never
live, every node, only its pre-flight can be expected to refuse it, and after it the
webservers are api-servers to the steps that follow.

``st`` is the validation's running state (:class:`testbed.scenario.validate._State`: the
version after the last whole upgrade, the nodes known so far; typed loosely, it imports this
module).
"""

from __future__ import annotations

import re
from typing import Any

from testbed.images.catalog import major
from testbed.scenario import validate_k8s as k8s_rules
from testbed.scenario.steps_upgrade import SeedHistory, Upgrade
from testbed.topology import INFRA, serves_scheduler_health
from testbed.upgrade.versions import version_key


def major_errors(step: Upgrade, st: Any) -> list[tuple[str, str]]:
    """An Airflow 2 -> 3 upgrade is never live and takes every node; its pre-flight is the
    only check that can refuse it."""
    crossing = major(st.version) == 2 and major(step.to) == 3
    if major(st.version) == 2 and major(step.to) == 2:
        return [("to", f"{st.version} -> {step.to}: upgrades between Airflow 2 releases are not "
                 "built (an Airflow 2 cluster goes to 3, and back by its backup)")]  # fmt: skip
    if step.refused_by == "preflight" and not crossing:
        return [("refused_by", f"the {step.refused_by} is a check of an Airflow 2 -> 3 "
                 f"upgrade; this step goes from {st.version} to {step.to}")]  # fmt: skip
    if step.refused_by == "db_migrate" and (
        st.topology.pods or version_key(step.to) <= version_key(st.version)
    ):
        return [("refused_by", "a failed migration is recovered from (the backup restored, "
                 "the old version started) on the Docker backend, on the way up; this step "
                 f"goes from {st.version} to {step.to}"
                 f"{' on Kubernetes' if st.topology.pods else ''}")]  # fmt: skip
    if step.db_clean is not None and not crossing:
        return [("db_clean", "`airflow db clean` before the migration is a step of an Airflow "
                 f"2 -> 3 upgrade; this step goes from {st.version} to {step.to}")]  # fmt: skip
    back = major(st.version) == 3 and major(step.to) == 2
    if (crossing or back or step.refused_by == "db_migrate") and (
        step.nodes or step.strategy == "rolling"
    ):
        field = "nodes" if step.nodes else "strategy"
        return [(field, f"{st.version} -> {step.to} is never live and takes every node "
                 "(`testbed upgrade-plan` prints it): leave nodes and strategy out")]  # fmt: skip
    if (crossing or back or step.refused_by == "db_migrate") and st.topology.local:
        return [("refused_by" if step.refused_by else "to", "crossing Airflow 2 and 3, or a "
                 "failed migration's recovery, is built for the CeleryExecutor, not the "
                 "LocalExecutor")]  # fmt: skip
    return _back_errors(step, st) if back else []


def _back_errors(step: Upgrade, st: Any) -> list[tuple[str, str]]:
    """Back to Airflow 2: the backup an earlier 2 -> 3 step of this scenario took, restored."""
    if step.rollback != "restore":
        return [("rollback", "back to Airflow 2 is by the backup taken before the upgrade "
                 "(`airflow db downgrade` below 3.0 reverts the schema, not the rows): "
                 "`rollback: restore`")]  # fmt: skip
    if st.upgraded_from != step.to:
        return [("to", f"back to {step.to} restores the backup a {step.to} -> 3 upgrade step "
                 "takes; no earlier step of this scenario made one")]  # fmt: skip
    return []


def to_version(st: Any, version: str) -> None:
    """The cluster after a whole upgrade to ``version``; from Airflow 2 to 3 each webserver
    gives way to an api-server (``webserver-2`` to ``api-server-2``), and back from 3 to 2."""
    if major(st.version) == 2 and major(version) == 3:
        st.upgraded_from = st.version  # the backup a way back to it restores
    elif major(st.version) == 3 and major(version) == 3 and version != st.version:
        st.upgraded_from = None  # a later upgrade's backup took that name
    if major(st.version) != major(version):
        pair = ("webserver", "api-server")
        old, new = pair if major(version) == 3 else pair[::-1]
        gone = sorted(n for n in st.nodes if re.match(rf"^{old}(-\d+)?$", n))
        st.nodes -= set(gone)
        st.nodes |= {n.replace(old, new) for n in gone}
    st.version = version


def check(step: Upgrade, st: Any, dags: set[str]) -> list[tuple[str, str]]:
    """Known nodes; ``rollback:`` only on a way back (it would be ignored on the way up);
    ``local:`` only on a LocalExecutor cluster; on Kubernetes, every Deployment upwards."""
    going_up = version_key(step.to) >= version_key(st.version)
    if st.topology.pods and (refused := k8s_rules.upgrade_refusal(step, going_up)):
        return refused
    airflow = {n for n in st.nodes if n not in INFRA and not n.startswith("migrate")}
    bad = [n for n in step.nodes or [] if n not in airflow]
    if bad:
        known = ", ".join(sorted(airflow))
        return [("nodes", f"unknown Airflow node {bad[0]!r} at this step; known: {known}")]
    if "rollback" in step.model_fields_set and going_up:
        return [
            (
                "rollback",
                f"applies only on the way back to an older version; this step goes from "
                f"{st.version} to {step.to}",
            )
        ]
    if step.local is not None and not st.topology.local:
        return [("local", f"applies to the LocalExecutor only; this topology runs the "
                 f"{st.topology.executor}")]  # fmt: skip
    if refused := major_errors(step, st):
        return refused
    if step.nodes is None and step.refused_by is None:
        to_version(st, step.to)
    return []


def seed_history(step: SeedHistory, st: Any, dags: set[str]) -> list[tuple[str, str]]:
    """A seeded history is Airflow 2's rows, in a Docker cluster's database, of a known DAG."""
    if major(st.version) != 2 or st.topology.pods:
        where = f"Airflow {st.version}" + " on Kubernetes" * bool(st.topology.pods)
        return [("action", f"seed_history writes Airflow 2's rows (Docker); here: {where}")]
    if step.dag not in dags:
        return [("dag", f"unknown DAG {step.dag!r}; DAGs: {', '.join(sorted(dags))}")]
    if step.dag in st.seeded:
        return [("dag", f"{step.dag}'s history is seeded by an earlier step (its runs' ids and "
                 "dates would collide): one seed_history per DAG, with more runs")]  # fmt: skip
    st.seeded.add(step.dag)
    return []


def no_health_server(probe: str | None, st: Any) -> list[tuple[str, str]]:
    """An Airflow 2 scheduler runs no health server here: its liveness is the job table."""
    if probe != "scheduler_health" or serves_scheduler_health(st.version):
        return []
    return [("probe", f"an Airflow {st.version} scheduler runs no health server here (it can "
             "take the scheduler's own database replies: docs/findings.md); use `probe: "
             "jobs_check` (its job heartbeat) or `api_health`")]  # fmt: skip
