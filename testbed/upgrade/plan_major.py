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

from collections.abc import Mapping, Sequence

from testbed.upgrade.plan_docker import drain_together, stop_together
from testbed.upgrade.step import Step
from testbed.upgrade.versions import version_key

OLDEST_2 = (2, 7)  # the guide: upgrade from 2.7 or later
# the roles of a 2.x Celery deployment stopped after the workers are drained and the
# webservers stopped, in this order; started again on 3.x (after the api-servers) in the same
CORE_ROLES = ("scheduler", "dag-processor", "triggerer")


def is_major(from_version: str, to_version: str) -> bool:
    """Airflow 2.x to 3.x (the versions' first numbers)."""
    return version_key(from_version)[0] == 2 and version_key(to_version)[0] == 3


def is_major_back(from_version: str, to_version: str) -> bool:
    """Airflow 3.x back to 2.x."""
    return version_key(from_version)[0] == 3 and version_key(to_version)[0] == 2


def refusal(from_version: str, to_version: str, rollback: str = "restore") -> str | None:
    """Why the plan cannot be made, or None: the guide's floor, and no way back to 2.x but
    the backup (``airflow db downgrade`` across 3.0 is not planned)."""
    if is_major_back(from_version, to_version) and rollback != "restore":
        return (
            f"{from_version} -> {to_version}: the way back to Airflow 2 is the backup taken "
            "before the upgrade (`airflow db downgrade` below 3.0 needs the FAB provider and "
            "reverts the schema, not the rows): use `rollback: restore`"
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
    by_role: Mapping[str, Sequence[str]] | None = None,
) -> list[Step]:
    """The guide's steps for a 2.x Celery deployment whose nodes are ``by_role`` (role -> its
    nodes; a role not given has one node of its name, and no Celery worker): every node of
    each role stopped and started again on 3.x, as many api-servers as webservers."""
    nodes = _nodes(by_role or {})
    workers, webservers = nodes["celery-worker"], nodes["webserver"]
    core = [n for r in CORE_ROLES for n in nodes[r]]
    return [
        *_checks(from_version, to_version, nodes["dag-processor"][0]),
        *_stop(workers, webservers, core),
        Step("backup", "pg_dump", "postgres", f"back up the metadata DB (schema {from_head})"),
        Step(
            "migrate",
            "db_migrate",
            "migrate",
            f"`airflow db migrate` with the {to_version} image ({from_head} -> {to_head}); "
            "an interrupted migration leaves the schema half-migrated: restore the backup",
        ),
        *_start(to_version, workers, webservers, core),
        Step(
            "verify",
            "history",
            None,
            f"runs, task instances, XComs, connections and variables made on {from_version} "
            f"are readable on {to_version}",
        ),
    ]


BACK_REASONS = (
    "back to Airflow 2: 2.x code refuses a 3.x schema, and `airflow db downgrade` below 3.0 "
    "needs the FAB provider and reverts the schema, not the rows",
    "the backup taken before the upgrade is the way back: everything written on 3.x is lost "
    "(its own backup is taken first, under another name)",
    "2.x runs the webserver in the api-servers' place",
)


def back_summary(to_version: str) -> str:
    return (
        f"NO live downgrade: back to Airflow 2 ({to_version}) by the backup taken before the "
        "upgrade"
    )


def back_steps(
    from_version: str, to_version: str, to_head: str, by_role: Mapping[str, Sequence[str]]
) -> list[Step]:
    """Airflow 3.x back to 2.x on a Celery deployment whose nodes are ``by_role``: every 3.x
    role stopped, the 3.x database kept under another name, the pre-upgrade backup restored,
    and the 2.x roles started, a webserver for each api-server."""
    apis = list(by_role.get("api-server") or ["api-server"])
    workers = list(by_role.get("celery-worker") or [])
    core = [n for r in CORE_ROLES for n in (by_role.get(r) or [r])]
    webservers = ["webserver", *(f"webserver-{i}" for i in range(2, len(apis) + 1))]
    retire = [Step("start", "retire", n, "removed: Airflow 2 has no api-server") for n in apis]
    starts = [
        *(Step("start", "start", n, f"`airflow webserver` on {to_version}") for n in webservers),
        *(Step("start", "start", n, f"start on {to_version}") for n in (*core, *workers)),
    ]
    waits = [Step("start", "wait_ready", n, "wait until ready") for n in (*webservers, *core,
                                                                          *workers)]  # fmt: skip
    return [
        *_stop(workers, apis, core),
        Step("backup", "pg_dump", "postgres", f"back up the {from_version} database (kept)"),
        Step("restore", "pg_restore", "postgres",
             f"restore the backup taken before the upgrade (schema {to_head})"),  # fmt: skip
        *retire,
        *starts,
        *waits,
        Step("verify", "history", None,
             f"the runs finished before the upgrade read the same through the {to_version} API"),
    ]  # fmt: skip


def _nodes(by_role: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    out = {r: list(by_role.get(r) or [r]) for r in ("webserver", *CORE_ROLES)}
    out["celery-worker"] = list(by_role.get("celery-worker") or [])
    return out


def _checks(from_version: str, to_version: str, dag_processor: str) -> list[Step]:
    return [
        Step(
            "check",
            "preflight",
            None,
            f"`testbed preflight --dags DIR --config airflow.cfg --to {to_version}`: ruff's "
            "AIR301/302/303 rules (what breaks) and `airflow config lint` of the new version",
        ),
        # where the DAG files are: it empties serialized_dag, then serializes its own folder
        Step(
            "check", "reserialize", dag_processor, f"`airflow dags reserialize` on {from_version}"
        ),  # fmt: skip
        Step(
            "check",
            "db_clean",
            "scheduler",
            "`airflow db clean --clean-before-timestamp ...` (optional): the migration rewrites "
            "task_instance and xcom, so old rows make it slow",
        ),
    ]


def _stop(workers: Sequence[str], webservers: Sequence[str], core: Sequence[str]) -> list[Step]:
    return drain_together(list(workers)) + stop_together([*webservers, *core])


def api_servers(webservers: Sequence[str]) -> list[str]:
    """The api-servers that take the webservers' place: as many (``api-server``, then
    ``api-server-2`` ...)."""
    return ["api-server", *(f"api-server-{i}" for i in range(2, len(webservers) + 1))]


def _start(
    to_version: str, workers: Sequence[str], webservers: Sequence[str], core: Sequence[str]
) -> list[Step]:
    apis = api_servers(webservers)
    retire = [
        Step("start", "retire", n, "removed: Airflow 3 has no webserver (the api-server serves "
             "the UI and the API)")
        for n in webservers
    ]  # fmt: skip
    starts = [
        *(
            Step(
                "start",
                "start",
                n,
                f"`airflow api-server` on {to_version} (replaces "
                "the webserver; [webserver] options move to [api])",
            )
            for n in apis
        ),  # fmt: skip
        *(Step("start", "start", n, f"start on {to_version}") for n in core),
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
    waits = [Step("start", "wait_ready", n, "wait until ready") for n in (*apis, *core, *workers)]
    return retire + starts + waits
