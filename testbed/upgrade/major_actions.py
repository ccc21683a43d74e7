"""The actions of an Airflow 2 -> 3 upgrade (:mod:`testbed.upgrade.plan_major`) on a running
Docker cluster: the pre-flight of the cluster's DAGs under the target version (before anything
stops), ``airflow dags reserialize`` on 2.x, the webservers retired, the cluster made an Airflow
3 one when its first 3.x role starts, and the history check (the rows made on 2.x are all
there after the migration, and the latest runs read the same through the 3.x API).

``proc`` is the :class:`~testbed.upgrade.procedure.Procedure` carrying out the plan (typed
loosely: it imports this module).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from testbed import dagparse, runtime
from testbed.core import paths
from testbed.core.errors import UpgradeFailed
from testbed.images.catalog import major
from testbed.services import postgres
from testbed.upgrade.step import Step

# what a team's history is made of; the migration must keep every row (xcom values are
# rewritten as JSON by the 3.0 migrations, not dropped)
HISTORY_TABLES = ("dag_run", "task_instance", "xcom", "connection", "variable")
RUNS_READ_BACK = 5  # the latest runs read through the new API after the upgrade
RESERIALIZE_TIMEOUT = 180
CLEAN_TIMEOUT = 600
# runs older than the cutoff, but the latest scheduled run of each DAG, which db clean keeps
# (Airflow 2's db_cleanup: the greatest start_date of each dag_id where external_trigger is
# false; a run sharing that start_date is kept with it)
OLD_RUNS_LEFT = """
select count(*) from dag_run d where d.start_date < %s and not exists (
  select 1 from (select dag_id, max(start_date) as latest from dag_run
                 where external_trigger = false group by dag_id) k
  where k.dag_id = d.dag_id and k.latest = d.start_date)
"""


def preflight(proc: Any, step: Step) -> None:
    """Import the cluster's DAG folder with the target version (its image, no cluster); a file
    that breaks there but imports on the running version fails the upgrade before anything
    stops. Recorded as a ``preflight`` event either way."""
    cluster, plan = proc.cluster, proc._plan
    folder = Path(cluster.topology.dags) if cluster.topology.dags else paths.dags_dir()
    target = dagparse.parse(folder, plan.to_version)
    source = dagparse.parse(folder, plan.from_version) if target.failures else None
    breaks = [f for f in target.failures if source is None or not source.failed(f.file)]
    cluster.history.append(
        "preflight", version=plan.to_version, dags=len(target.dags),
        failures=[f.text() for f in target.failures], breaks=[f.text() for f in breaks],
    )  # fmt: skip
    if breaks:
        listed = "; ".join(f.text() for f in breaks[:3])
        raise UpgradeFailed(
            f"pre-flight: {len(breaks)} DAG file(s) import on {plan.from_version} and break on "
            f"{plan.to_version}: {listed} (fix them before the upgrade: `testbed preflight`)"
        )


def reserialize(proc: Any, step: Step) -> None:
    """``airflow dags reserialize`` on the running 2.x node that holds the DAG files (the
    dag-processor: the command empties ``serialized_dag``, then serializes its own folder),
    the guide's check that every DAG serializes before the upgrade."""
    c = proc.cluster.container(step.node)
    cmd = ["airflow", "dags", "reserialize"]
    r = runtime.exec_run(c, cmd, timeout=RESERIALIZE_TIMEOUT, node=step.node)
    if r.exit_code != 0:
        tail = " | ".join(r.output.strip().splitlines()[-3:])[-300:]
        raise UpgradeFailed(
            f"`airflow dags reserialize` on {step.node} exited {r.exit_code}: {tail}"
        )


def db_clean(proc: Any, step: Step) -> None:
    """The guide's optional clean-up of old rows, when the step asks (``db_clean``: an age):
    ``airflow db clean`` on the running 2.x node, without archive tables, of the rows older
    than that; the rows each history table lost are recorded. A run older than the cutoff left
    behind (but the latest scheduled one of each DAG, which ``db clean`` keeps) fails the
    step. Not asked: recorded as skipped (the history check then counts every row)."""
    cluster = proc.cluster
    if proc.clean_before is None:
        cluster.history.append("upgrade_skipped", action="db_clean", reason="optional, not asked")
        return
    cutoff = datetime.now(UTC) - timedelta(seconds=proc.clean_before)
    newer = _runs_since(cluster, cutoff)
    before, t0 = count_rows(cluster), time.monotonic()
    cmd = ["airflow", "db", "clean", "--clean-before-timestamp", cutoff.isoformat(), "--yes",
           "--skip-archive"]  # fmt: skip
    r = runtime.exec_run(cluster.container(step.node), cmd, timeout=CLEAN_TIMEOUT, node=step.node)
    took = round(time.monotonic() - t0, 3)
    after = count_rows(cluster)
    cluster.history.append(
        "db_clean", cutoff=cutoff.isoformat(), exit_code=r.exit_code, seconds=took,
        deleted={t: before[t] - after.get(t, 0) for t in before}, rows=after,
    )  # fmt: skip
    if r.exit_code != 0:
        tail = " | ".join(r.output.strip().splitlines()[-3:])[-300:]
        raise UpgradeFailed(f"`airflow db clean` on {step.node} exited {r.exit_code}: {tail}")
    (left,) = postgres.query(cluster, OLD_RUNS_LEFT, (cutoff,), timeout=30)[0]
    if left:
        raise UpgradeFailed(f"`airflow db clean` left {left} run(s) older than {cutoff:%Y-%m-%d}")
    if (kept := _runs_since(cluster, cutoff)) < newer:  # the cluster still runs: more is fine
        raise UpgradeFailed(
            f"`airflow db clean` took runs newer than its cutoff: {newer} -> {kept}"
        )


def _runs_since(cluster: Any, cutoff: datetime) -> int:
    sql = "select count(*) from dag_run where start_date >= %s"
    return int(postgres.query(cluster, sql, (cutoff,), timeout=30)[0][0])


def retire(proc: Any, step: Step) -> None:
    """A 2.x role Airflow 3 does not run (the webserver): its stopped container removed."""
    if step.node in proc.cluster.nodes:
        proc.cluster.remove_node(step.node)


def switch_line(proc: Any, version: str | None = None) -> None:
    """Make the cluster an Airflow ``version`` one (default ``proc.version``) when its first
    role of that major version starts (or, after a failed migration, when the old version's
    backup is restored): from then on its topology (the API's nodes and client, every new
    node's configuration and image) is that version's. A no-op within one major version."""
    topology, version = proc.cluster.topology, version or proc.version
    if major(version) != topology.line:
        proc.cluster.topology = dataclasses.replace(topology, airflow_version=version)
        proc.cluster.history.append("topology", airflow_version=version)


def count_rows(cluster: Any) -> dict[str, int]:
    """How many rows each history table holds now."""
    sql = " union all ".join(f"select '{t}', count(*) from {t}" for t in HISTORY_TABLES)
    return {table: int(n) for table, n in postgres.query(cluster, sql, (), timeout=30)}


def record_before(proc: Any) -> None:
    """The history's row counts at the backup (every 2.x role stopped), kept for
    :func:`history` and recorded."""
    proc.rows_before = count_rows(proc.cluster)
    proc.cluster.history.append("history_rows", phase="before", rows=proc.rows_before)


def rows_of_backup(proc: Any) -> None:
    """After a restore back to Airflow 2: the row counts its 2 -> 3 upgrade recorded at the
    backup now restored, which the history check must find again (none known: no count)."""
    if major(proc.version) != 2:
        return
    counted = [e for e in proc.cluster.history.snapshot()
               if e["kind"] == "history_rows" and e.get("phase") == "before"]  # fmt: skip
    proc.rows_before = dict(counted[-1]["rows"]) if counted else {}


def history(proc: Any, step: Step) -> None:
    """Every row counted at the backup is still there, and the latest finished runs read
    through the 3.x API with the state the database holds (a run still going may change
    between the two reads). The counts are recorded before the API is asked."""
    cluster, before = proc.cluster, proc.rows_before
    after = count_rows(cluster)
    cluster.history.append("history_rows", phase="after", rows=after, before=before)
    lost = {t: (n, after.get(t, 0)) for t, n in before.items() if after.get(t, 0) < n}
    differ = _runs_read_back(cluster)
    if lost or differ:
        raise UpgradeFailed(f"history after the upgrade: rows lost {lost}, runs read as {differ}")


def _runs_read_back(cluster: Any) -> dict[str, tuple[str, str]]:
    """The latest finished runs as the database holds them against what the API answers:
    {run: (database, API)} for each that differs (the reads recorded)."""
    from testbed.smoke import api_for

    runs = postgres.query(
        cluster, "select dag_id, run_id, state from dag_run where state in ('success', "
        "'failed') order by id desc limit %s", (RUNS_READ_BACK,), timeout=30,
    )  # fmt: skip
    api = api_for(cluster)
    read = {f"{d}/{r}": (s, api.run_state(d, r)) for d, r, s in runs}
    cluster.history.append("history_runs", read=read)
    return {run: states for run, states in read.items() if states[0] != states[1]}


ACTIONS = {
    "preflight": preflight,
    "reserialize": reserialize,
    "db_clean": db_clean,
    "retire": retire,
    "history": history,
}
