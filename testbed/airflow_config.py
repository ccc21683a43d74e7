"""Airflow's configuration for every node, as ``AIRFLOW__{SECTION}__{KEY}`` environment and
secret files read through ``*_cmd`` options, the way the production guide recommends.

Pure: (topology, secrets, node) -> environment and files. Nothing here touches Docker.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from testbed import faketime, krb5, secret_options, timescale
from testbed.core.errors import TestbedError
from testbed.core.secrets import Secrets
from testbed.topology import WEBSERVER, Topology, role_is_worker

SECRETS_DIR = "/run/testbed"
DAGS_FOLDER = "/opt/airflow/dags"
# Airflow's base_log_folder ($AIRFLOW_HOME/logs, the image's AIRFLOW_HOME): on every Celery
# worker a filesystem of its own, LOG_DISK_SIZE big (a worker's disk is finite: disk_full)
LOGS_FOLDER = "/opt/airflow/home/logs"
LOG_DISK_SIZE = "256m"
LOG_BUCKET = "airflow-logs"
REMOTE_BASE = f"s3://{LOG_BUCKET}/logs"
API_PORT = 8080
SCHEDULER_HEALTH_PORT = 8974
MINIO_USER = "testbed"
MINIO_PORT = 9000
TIMESCALE_ENV = "TESTBED_TIMESCALE"  # read by the testbed's own DAGs (scenarios/dags/)

# Defaults every cluster gets; a topology's config overrides any of them.
BASE_CONFIG: dict[str, dict[str, str]] = {
    "core": {
        "executor": "CeleryExecutor",
        "dags_folder": DAGS_FOLDER,
        "load_examples": "False",
        "dags_are_paused_at_creation": "False",
        "hostname_callable": "socket.gethostname",
        "execution_api_server_url": f"http://api-server:{API_PORT}/execution/",
        "simple_auth_manager_users": "admin:admin",
        "simple_auth_manager_passwords_file": f"{SECRETS_DIR}/passwords.json",
    },
    "api": {"workers": "1", "port": str(API_PORT), "base_url": f"http://api-server:{API_PORT}"},
    "scheduler": {
        "enable_health_check": "True",
        "scheduler_health_check_server_port": str(SCHEDULER_HEALTH_PORT),
    },
    # A file is parsed again every 120 s (Airflow's default: 30 s), sooner once it changes
    # (Airflow parses a file whose mtime is newer than its last parse first, whatever the
    # interval). At 30 s the dag-processor was the busiest process of an idle cluster: ~4 of its
    # ~10 CPU-seconds a minute, on a machine that runs two clusters at once.
    "dag_processor": {"refresh_interval": "5", "min_file_process_interval": "120"},
    "celery": {"worker_concurrency": "4"},
    "logging": {
        "remote_logging": "True",
        "remote_base_log_folder": REMOTE_BASE,
        "remote_log_conn_id": "minio",
        "encrypt_s3_logs": "False",
    },
}

# Clusters with Kerberos: the shared credential cache (a memory-backed volume written by the
# sidecar, read-only on the worker) and the refresher's options. A plain path: Airflow exports it
# as KRB5CCNAME when `[core] security = kerberos`. `include_ip = False`: Airflow's default (True)
# binds the ticket to the *sidecar's* address, and the worker, a separate container with its
# own address, is refused ("Incorrect net address"). A 30 s refresh keeps a 90 s ticket fresh.
CCACHE_DIR = "/var/lib/airflow-krb"
CCACHE = f"{CCACHE_DIR}/ccache"
KERBEROS_CONFIG: dict[str, str] = {
    "ccache": CCACHE,
    "reinit_frequency": "30",
    "include_ip": "False",
    "forwardable": "False",
}
PG_KRB_CONN = "pg_krb"  # the connection id the kerberized DAG uses

# Sensitive options read through `*_cmd` from files: never in a container's environment. A
# user's own `_cmd` (or `_secret`) for one replaces the testbed's (testbed.secret_options).
CMD_OPTIONS = {
    ("database", "sql_alchemy_conn"): "sql_alchemy_conn",
    ("core", "fernet_key"): "fernet_key",
    ("celery", "broker_url"): "broker_url",
    ("celery", "result_backend"): "result_backend",
}


# What Airflow 2 takes instead (``line: 2``): the API and UI are the webserver's (one gunicorn
# worker, like the api-server's one), its REST API (v1) takes basic auth against the FAB users
# (the admin is created when the webserver starts: ADMIN_USER), and the dag-processor
# runs standalone only when the scheduler is told so.
AIRFLOW_2_CONFIG: dict[str, dict[str, str]] = {
    "webserver": {
        "workers": "1",
        "web_server_port": str(API_PORT),
        "base_url": f"http://webserver:{API_PORT}",
    },
    "api": {"auth_backends": "airflow.api.auth.backend.basic_auth"},
    # Airflow 3's [dag_processor] refresh_interval (5 s here) was the scheduler's in Airflow 2;
    # its health server stays off, as Airflow 2's default has it: it is forked with the CLI's
    # pooled connection, and its first request's pre-ping can take the scheduler's reply
    # (docs/findings.md, "Airflow 2's scheduler at its start"); liveness is its job heartbeat
    "scheduler": {
        "standalone_dag_processor": "True",
        "dag_dir_list_interval": "5",
        "min_file_process_interval": "120",
        "enable_health_check": "False",
    },
}
AIRFLOW_3_ONLY = {
    "core": (
        "execution_api_server_url",
        "simple_auth_manager_users",
        "simple_auth_manager_passwords_file",
    ),
    "api": ("workers", "port", "base_url"),
    "dag_processor": ("refresh_interval", "min_file_process_interval"),
}
# the admin an Airflow 2 webserver creates at its start, if it is not there yet
ADMIN_USER = ("--username", "admin", "--role", "Admin", "--email", "admin@testbed.invalid",
              "--firstname", "Testbed", "--lastname", "Admin")  # fmt: skip


def env_name(section: str, key: str) -> str:
    return f"AIRFLOW__{section.upper()}__{key.upper()}"


def base_config(line: int) -> dict[str, dict[str, str]]:
    """The defaults of a cluster of Airflow ``line`` (3, or 2: :data:`AIRFLOW_2_CONFIG`)."""
    base = {s: dict(kv) for s, kv in BASE_CONFIG.items()}
    if line == 2:
        for section, keys in AIRFLOW_3_ONLY.items():
            for key in keys:
                base[section].pop(key)
        for section, kv in AIRFLOW_2_CONFIG.items():
            base.setdefault(section, {}).update(kv)
    return base


def merged_config(topology: Topology) -> dict[str, dict[str, str]]:
    merged = base_config(topology.line)
    merged["core"]["executor"] = topology.executor
    for section, kv in topology.effective_config().items():
        merged.setdefault(section, {}).update({k: str(v) for k, v in kv.items()})
    return merged


def _pg_url(topology: Topology, node: str, secrets: Secrets, scheme: str) -> str:
    host, port = _endpoint(topology, node, "postgres", 5432)
    # application_name: pg_stat_activity names the node of every session (all sessions come
    # from Toxiproxy's address, so client_addr cannot tell them apart)
    return (
        f"{scheme}://airflow:{quote(secrets.pg_password)}@{host}:{port}/airflow"
        f"?application_name={node}"
    )


def _endpoint(topology: Topology, node: str, upstream: str, port: int) -> tuple[str, int]:
    """Where ``node`` reaches ``upstream``: its own Toxiproxy link, or directly if it has none
    (every one-shot migrator, ``migrate`` or ``migrate-N``, shares the ``migrate`` link)."""
    client = "migrate" if node.startswith("migrate") else node
    for link in topology.links():
        if (link.client, link.upstream) == (client, upstream):
            return "toxiproxy", link.listen_port
    return upstream, port


def secret_files(topology: Topology, node: str, secrets: Secrets) -> dict[str, str]:
    """The files behind the ``*_cmd`` options for one node (name -> content)."""
    redis_host, redis_port = _endpoint(topology, node, "redis", 6379)
    files = {
        "sql_alchemy_conn": _pg_url(topology, node, secrets, "postgresql+psycopg2"),
        "result_backend": _pg_url(topology, node, secrets, "db+postgresql"),
        "broker_url": f"redis://:{secrets.redis_password}@{redis_host}:{redis_port}/0",
        "fernet_key": secrets.fernet_key,
        "passwords.json": json.dumps({"admin": secrets.admin_password}),
    }
    if node.startswith(WEBSERVER):  # Airflow 2's admin: `airflow users create` reads the
        # password (twice: it asks again to confirm) from its input, never its command line
        files["admin_password"] = f"{secrets.admin_password}\n{secrets.admin_password}\n"
    return files


def environment(topology: Topology, node: str, secrets: Secrets) -> dict[str, str]:
    """The environment of one Airflow node: plain options, `_cmd` options, the log connection."""
    env = {env_name(s, k): v for s, kv in merged_config(topology).items() for k, v in kv.items()}
    for (section, key), fname in CMD_OPTIONS.items():
        if not secret_options.user_supplies(topology.config, section, key):  # else: theirs
            env[env_name(section, key) + "_CMD"] = f"cat {SECRETS_DIR}/{fname}"
    if topology.timescale != 1.0:  # the testbed's own DAGs run their `seconds` on this clock
        env[TIMESCALE_ENV] = f"{topology.timescale:g}"
    web = "webserver" if topology.line == 2 else "api"  # the session cookie's signing key
    for (section, key), value in (
        (("api_auth", "jwt_secret"), secrets.jwt_secret),
        ((web, "secret_key"), secrets.api_secret_key),
    ):
        if not secret_options.user_supplies(topology.config, section, key):
            env[env_name(section, key)] = value
    host, port = _endpoint(topology, node, "api-server", API_PORT)
    user_url = "execution_api_server_url" in topology.config.get("core", {})
    if topology.line == 3 and host != "api-server" and not user_url:
        env[env_name("core", "execution_api_server_url")] = f"http://{host}:{port}/execution/"
    if topology.kerberos and role_is_worker(node):
        env.update(worker_kerberos_env(topology))
    if topology.clock_jumps:  # the node's clock can be stepped while it runs (clock_jump)
        env.update(faketime.movable_env())
    minio_host, minio_port = _endpoint(topology, node, "minio", MINIO_PORT)
    env["AIRFLOW_CONN_MINIO"] = json.dumps(
        {
            "conn_type": "aws",
            "login": MINIO_USER,
            "password": secrets.minio_password,
            "extra": {
                "endpoint_url": f"http://{minio_host}:{minio_port}",
                "region_name": "us-east-1",
            },
        }
    )
    return env


def kerberos_options(topology: Topology) -> dict[str, str]:
    """``[kerberos]`` for workers and sidecars: the testbed's values, then the topology's; the
    refresher's cycle scaled by the timescale (like the ticket life,
    :func:`testbed.services.kdc.ticket_life`)."""
    overrides = topology.config.get("kerberos", {})
    written = {**KERBEROS_CONFIG, **{k: str(v) for k, v in overrides.items()}}
    return {k: timescale.option(f"kerberos.{k}", v, topology.timescale) for k, v in written.items()}


def worker_kerberos_env(topology: Topology) -> dict[str, str]:
    """What a worker adds in a cluster with Kerberos: `[core] security = kerberos` (Airflow then
    sets KRB5CCNAME to the shared cache), the krb5 config, and the kerberized target's
    connection (no password: the ticket is the credential). Never a keytab."""
    env = {env_name("core", "security"): "kerberos", "KRB5_CONFIG": krb5.KRB5_CONF}
    env.update({env_name("kerberos", k): v for k, v in kerberos_options(topology).items()})
    env[f"AIRFLOW_CONN_{PG_KRB_CONN.upper()}"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": krb5.fqdn("pg-krb"),
            "port": 5432,
            "schema": "kerberized",
            "login": "etl",
            "extra": {"gssencmode": "require", "connect_timeout": "10"},
        }
    )
    return env


def sidecar_environment(topology: Topology, principal: str, keytab_name: str) -> dict[str, str]:
    """The sidecar's whole environment: `[kerberos]` with its principal and keytab, and nothing
    of the cluster's secrets (no database, broker, fernet, API or JWT secret). Without a
    metadata database, `airflow kerberos` needs `[database] check_migrations = False`."""
    env = {env_name("core", "security"): "kerberos", "KRB5_CONFIG": krb5.KRB5_CONF}
    env.update({env_name("kerberos", k): v for k, v in kerberos_options(topology).items()})
    env[env_name("kerberos", "principal")] = principal
    env[env_name("kerberos", "keytab")] = f"{SECRETS_DIR}/{keytab_name}"
    env[env_name("database", "check_migrations")] = "False"
    env[env_name("core", "load_examples")] = "False"
    return env


def log_key(dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
    """The S3 key under the log bucket of one task attempt's log (Airflow 3's default template)."""
    mapped = f"map_index={map_index}/" if map_index >= 0 else ""
    return (
        f"logs/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{mapped}attempt={try_number}.log"
    )


def parse_overrides(items: list[str]) -> dict[str, dict[str, str]]:
    """``["scheduler.scheduler_health_check_threshold=10"]`` -> nested config overrides."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        dotted, sep, value = item.partition("=")
        section, dot, key = dotted.partition(".")
        if not (sep and dot and section and key):
            raise TestbedError(
                f"--set {item!r}: use SECTION.KEY=VALUE, "
                "e.g. scheduler.scheduler_health_check_threshold=10"
            )
        out.setdefault(section, {})[key] = value
    return out
