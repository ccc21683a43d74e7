"""The plan from Airflow 2 to Airflow 3: Airflow's "Upgrading to Airflow 3" guide as data (pure).

A major upgrade is never live. The guide's order:

1. Be on 2.7 or later. The guide recommends the latest 2.x first.
2. Check the DAGs (ruff's AIR3xx rules) and the config (`airflow config lint`).
3. `airflow dags reserialize` must pass on 2.x.
4. Clean old data (`airflow db clean`): a long-lived database's tables make the migration slow.
5. Stop everything. Back up the metadata database: without a hot backup, after the stop, or an
   interrupted migration leaves it half-migrated.
6. Migrate with the 3.x code.
7. Start the 3.x roles:
   - the api-server replaces the webserver;
   - the dag-processor is always a process of its own;
   - tasks reach the database only through the api-server's Execution API (every worker needs
     ``[core] execution_api_server_url`` and the shared ``[api_auth] jwt_secret``).

The way back is the backup. ``airflow db downgrade`` below 3.0 needs the FAB provider, and it
reverts the schema, not the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from testbed.upgrade.step import Step
from testbed.upgrade.versions import version_key

OLDEST_2 = (2, 7)  # the guide: upgrade from 2.7 or later
# the roles of a 2.x Celery deployment, in the order they are stopped (the workers drained)
AIRFLOW_2_STOP = ("webserver", "scheduler", "dag-processor", "triggerer")
AIRFLOW_3_START = ("api-server", "scheduler", "dag-processor", "triggerer")


def is_major(from_version: str, to_version: str) -> bool:
    """Airflow 2.x to 3.x (the versions' first numbers)."""
    return version_key(from_version)[0] == 2 and version_key(to_version)[0] == 3


def refusal(from_version: str, to_version: str) -> str | None:
    """Why the plan cannot be made, or None: the guide's floor, and no way back to 2.x except
    by the backup (a downgrade plan 3 -> 2 is not drilled)."""
    if version_key(to_version)[0] == 2 and version_key(from_version)[0] == 3:
        return (
            f"{from_version} -> {to_version}: the way back to Airflow 2 is the backup taken "
            "before the upgrade (`airflow db downgrade` below 3.0 needs the FAB provider and "
            "reverts the schema, not the rows)"
        )
    if is_major(from_version, to_version) and version_key(from_version)[:2] < OLDEST_2:
        return (
            f"{from_version} -> {to_version}: the guide upgrades to Airflow 3 from 2.7 or "
            "later; upgrade to the latest 2.x first"
        )
    return None


def summary(to_version: str, migrations: int | None) -> str:
    count = f"{migrations} migration(s)" if migrations is not None else "the 3.x migrations"
    return f"NO live upgrade: Airflow 2 -> 3, a downtime window ({count} to {to_version})"


REASONS = (
    "a major upgrade: the guide ('Upgrading to Airflow 3') stops the whole deployment, backs up "
    "the metadata database and migrates it with the 3.x code",
    "3.x runs different roles: the api-server replaces the webserver, the dag-processor is "
    "always its own process, and tasks reach the database only through the Execution API",
    "the way back is the backup: `airflow db downgrade` below 3.0 needs the FAB provider and "
    "reverts the schema, not the rows",
)


def steps(
    from_version: str,
    to_version: str,
    from_head: str,
    to_head: str,
    workers: Sequence[str],
) -> list[Step]:
    """The guide's steps for a 2.x Celery deployment with ``workers``."""
    return [
        *_checks(from_version, to_version),
        *_stop(workers),
        Step("backup", "pg_dump", "postgres", f"back up the metadata DB (schema {from_head})"),
        Step(
            "migrate",
            "db_migrate",
            "migrate",
            f"`airflow db migrate` with the {to_version} image ({from_head} -> {to_head}); "
            "an interrupted migration leaves the schema half-migrated: restore the backup",
        ),
        *_start(to_version, workers),
        Step(
            "verify",
            "history",
            None,
            f"runs, task instances, XComs, connections and variables made on {from_version} "
            f"are readable on {to_version}",
        ),
    ]


def _checks(from_version: str, to_version: str) -> list[Step]:
    return [
        Step(
            "check",
            "preflight",
            None,
            f"`testbed preflight --dags DIR --config airflow.cfg --to {to_version}`: ruff's "
            "AIR301/302/303 rules (what breaks) and `airflow config lint` of the new version",
        ),
        Step("check", "reserialize", "scheduler", f"`airflow dags reserialize` on {from_version}"),
        Step(
            "check",
            "db_clean",
            "scheduler",
            "`airflow db clean --clean-before-timestamp ...` (optional): the migration rewrites "
            "task_instance and xcom, so old rows make it slow",
        ),
    ]


def _stop(workers: Sequence[str]) -> list[Step]:
    drain = [
        s
        for w in workers
        for s in (
            Step("drain", "term", w, "SIGTERM: warm shutdown, no new tasks"),
            Step("drain", "wait_idle", w, "wait until it runs no task, then it exits"),
        )
    ]
    stops = [Step("stop", "stop", n, "stop (the 2.x role)") for n in AIRFLOW_2_STOP]
    return drain + stops


def _start(to_version: str, workers: Sequence[str]) -> list[Step]:
    starts = [
        Step(
            "start",
            "start",
            "api-server",
            f"`airflow api-server` on {to_version} (replaces "
            "the webserver; [webserver] options move to [api])",
        ),  # fmt: skip
        *(Step("start", "start", n, f"start on {to_version}") for n in AIRFLOW_3_START[1:]),
        *(
            Step(
                "start",
                "start",
                w,
                f"start on {to_version}: tasks reach the database only "
                "through the Execution API (`[core] execution_api_server_url`, the shared "
                "`[api_auth] jwt_secret`)",
            )  # fmt: skip
            for w in workers
        ),
    ]
    waits = [
        Step("start", "wait_ready", n, "wait until ready") for n in (*AIRFLOW_3_START, *workers)
    ]
    return starts + waits
