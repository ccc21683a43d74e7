"""The Airflow roles: api-server, scheduler, dag-processor, triggerer, Celery workers, and the
one-shot ``airflow db migrate``. All run the same image; each gets its own container, hostname,
config environment, secret files, and (dag-processor, workers, and the scheduler when it runs
the tasks: the LocalExecutor) its own copy of the DAGs.
"""

from __future__ import annotations

import re
from pathlib import Path

import requests

from testbed import airflow_config as AC
from testbed import dag_sync as DS
from testbed import runtime, timescale
from testbed.core import paths
from testbed.core.errors import TestbedError
from testbed.dagscan import SKIP_DIRS
from testbed.readiness import Probe
from testbed.runtime import NodeSpec, Volume
from testbed.services import Ctx, kdc, secret_file
from testbed.services import postgres as pg
from testbed.services.kerberos import ccache_volume
from testbed.topology import SIDECAR_SUFFIX, role_is_worker

ROLE_COMMANDS = {
    "api-server": ["airflow", "api-server"],
    "scheduler": ["airflow", "scheduler"],
    "dag-processor": ["airflow", "dag-processor"],
    "triggerer": ["airflow", "triggerer"],
    "celery-worker": ["airflow", "celery", "worker"],
    "migrate": ["airflow", "db", "migrate"],
    # Airflow 2's API and UI: the admin the testbed's calls use is created first (a FAB user;
    # the password from a secret file on its input, never on a command line; "already exist"
    # on a restart), then the webserver runs, started with SIGTTIN and SIGTTOU ignored: its
    # gunicorn monitor may send the master a TTIN before gunicorn handles it, whose default
    # action stops the master for good (docs/findings.md, "Airflow 2's webserver"); gunicorn
    # installs its own handlers over the ignore once it is up. Gunicorn 25's control socket is
    # off where gunicorn has one: its thread logs while the master forks the first worker, and
    # a worker forked during that write hangs on its first line until gunicorn's 120-s timeout
    # (docs/findings.md, "Gunicorn 25's control socket")
    "webserver": [
        "sh",
        "-c",
        "trap '' TTIN TTOU; "
        "gunicorn --help | grep -q -- --no-control-socket"
        " && export GUNICORN_CMD_ARGS=--no-control-socket; "
        f"airflow users create {' '.join(AC.ADMIN_USER)} < {AC.SECRETS_DIR}/admin_password; "
        "exec airflow webserver",
    ],
}
NEEDS_DAGS = {"dag-processor", "celery-worker"}
PORTS = {
    "api-server": [AC.API_PORT],
    "webserver": [AC.API_PORT],
    "scheduler": [AC.SCHEDULER_HEALTH_PORT],
}
JOB_TYPES = {"dag-processor": "DagProcessorJob", "triggerer": "TriggererJob"}
# the broker's URL (its password in it) through Celery's BROKER_URL, never on a command line
# (every process of the node could read it there, and `ps` in the hang diagnostics would show it)
CELERY_PING = (
    'BROKER_URL="$(cat /run/testbed/broker_url)" celery inspect ping -d "celery@$1" -t 4 '
    "| grep -q pong"
)


def role_of(node: str) -> str:
    """``worker-N`` -> celery-worker; ``scheduler-2`` (an extra or replacement) -> scheduler;
    ``worker-N-kerberos`` -> kerberos (the worker's ticket refresher)."""
    if node.endswith(SIDECAR_SUFFIX):
        return "kerberos"
    if role_is_worker(node):
        return "celery-worker"
    base = re.sub(r"-\d+$", "", node)
    return base if base in ROLE_COMMANDS else node


MAX_DAG_BYTES = 64 * 1024 * 1024  # a DAG folder is copied into every node that parses/runs


def dag_files(folder: Path | None = None) -> dict[str, tuple[bytes, int]]:
    """Every file of the DAG folder (subfolders included: helper modules, SQL, configs; caches
    and VCS folders skipped), as the files to put under Airflow's dags folder on a node."""
    folder = folder or paths.dags_dir()
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not SKIP_DIRS & set(p.relative_to(folder).parts[:-1])
    ]
    size = sum(p.stat().st_size for p in files)
    if size > MAX_DAG_BYTES:
        raise TestbedError(
            f"dags: {folder} holds {size / 2**20:.0f} MiB; at most {MAX_DAG_BYTES // 2**20} MiB "
            "is copied into each node (leave data out of the DAG folder)"
        )
    return {
        f"{AC.DAGS_FOLDER}/{p.relative_to(folder).as_posix()}": (p.read_bytes(), 0o644)
        for p in files
    }


def spec(ctx: Ctx, node: str) -> NodeSpec:
    role = role_of(node)
    files = dict(
        secret_file(name, value)
        for name, value in AC.secret_files(ctx.topology, node, ctx.secrets).items()
    )
    command, env = ROLE_COMMANDS[role], AC.environment(ctx.topology, node, ctx.secrets)
    topo = ctx.topology
    if role in NEEDS_DAGS or (role == "scheduler" and topo.local):  # parses or runs the DAGs
        if topo.dag_sync == "copy":
            files.update(dag_files(Path(topo.dags) if topo.dags else None))
        elif topo.dag_sync == "git":  # its own checkout, pulled by its cron job
            files[DS.SYNC_SCRIPT_PATH] = (DS.SYNC_SCRIPT.encode(), 0o755)
            command = DS.sync_command(command, AC.DAGS_FOLDER, topo.dag_sync_every)
    if topo.dag_sync == "bundle":  # every node names the same bundle; none holds a folder
        env.update(DS.bundle_environment(topo.dag_sync_every))
    s = NodeSpec(
        name=node,
        role=role,
        image=ctx.image_for(node),
        command=command,
        env=env,
        files=files,
        ports=PORTS.get(role, []),
    )
    if role == "api-server" and node != "api-server":
        s.aliases.append("api-server")  # one name for all: the workers' Execution API URL
    if role == "celery-worker" or (role == "scheduler" and ctx.topology.local):
        s.volumes.append(log_disk(node))  # its tasks' log folder: a disk of its own, bounded
    if ctx.topology.kerberos and role == "celery-worker":
        # the cache its sidecar refreshes, read-only; the krb5 config root-owned; no keytab
        s.volumes.append(ccache_volume(node, read_only=True))
        s.root_files.update(kdc.conf_file(ctx))
    return s


def log_disk(worker: str) -> Volume:
    """A worker's log folder: a filesystem of its own, memory-backed and bounded (see
    :mod:`testbed.faults.disk`)."""
    return Volume(f"{worker}-logs", AC.LOGS_FOLDER, tmpfs=True, size=AC.LOG_DISK_SIZE, mode="0755")


def api_url(ctx: Ctx, node: str | None = None) -> str:
    """The API from the host: ``node``'s, or the serving api-server's (see :func:`serving_api`)."""
    return f"http://127.0.0.1:{ctx.host_port(node or serving_api(ctx), AC.API_PORT)}"


def serving_api(ctx: Ctx) -> str:
    """The api-server the testbed talks to (see :func:`api_candidates`): with two or more,
    one may be down mid-roll, and a load balancer would route around it."""
    return api_candidates(ctx)[0]


_ANSWERED: dict[str, str] = {}  # run id -> the api-server that answered the health probe last


def api_answered(ctx: Ctx, node: str) -> None:
    """Note the api-server that just answered the API's health probe (the balancer's check)."""
    _ANSWERED[getattr(ctx, "run_id", "")] = node


def api_candidates(ctx: Ctx) -> list[str]:
    """The api-servers in the order to try them: running ones first, and among them the one
    that answered the health probe last (one alone: just it, no Docker call)."""
    names = ctx.topology.api_server_names
    if len(names) == 1:
        return names

    def running(name: str) -> bool:
        try:
            return runtime.state(ctx.container(name)) == "running"
        except Exception:  # not created (yet, or any more) mid-roll
            return False

    last = _ANSWERED.get(getattr(ctx, "run_id", ""))
    return sorted(names, key=lambda n: (not running(n), n != last))


def scheduler_health_url(ctx: Ctx, node: str = "scheduler") -> str:
    return f"http://127.0.0.1:{ctx.host_port(node, AC.SCHEDULER_HEALTH_PORT)}/health"


def _http_ok(url_fn) -> bool:
    return requests.get(url_fn(), timeout=2).status_code == 200


HEALTH_PATH = "/api/v2/monitor/health"
HEALTH_PATH_2 = "/health"  # Airflow 2's webserver: the same components, the same JSON
# The Execution API (the workers' API, mounted at /execution) is a Cadwyn app that builds its
# versioned routes on the first request it gets: seconds of CPU in the api-server's one event
# loop, during which no request is answered, health included (8-22 s seen on 2 busy cores).
# Left to the first task of a drill, that stall looked like an api-server outage; readiness
# makes the first request, so the cost is paid before all-green.
EXECUTION_WARMUP = "/execution/health"
# One attempt's wait for that answer. The build runs to its end in the server whether or not
# the client waits, and the next attempts wait it out (their health check times out until it
# ends); short, so an attempt stays within a readiness wait's bound and a cancelled boot is
# not held up by it.
WARMUP_TIMEOUT = 3.0


def health_path(ctx: Ctx) -> str:
    """Where the cluster's API answers its health: the api-server's, or Airflow 2's webserver's."""
    return HEALTH_PATH_2 if ctx.topology.line == 2 else HEALTH_PATH


def webserver_ready(base_url: str) -> bool:
    """Airflow 2's webserver answers its health with 200 and its metadatabase healthy (it has
    no Execution API to warm up)."""
    r = requests.get(f"{base_url}{HEALTH_PATH_2}", timeout=2)
    return r.status_code == 200 and r.json()["metadatabase"]["status"] == "healthy"


def api_ready(base_url: str) -> bool:
    """The api-server answers its health with 200, its Execution API has built its routes (one
    request into it answered, whatever the status: the routes exist once it returns), and its
    health answers again after that (behind a Kubernetes Service: the pod is back in it, if a
    long build made its readiness probe fail)."""
    health = lambda: f"{base_url}{HEALTH_PATH}"  # noqa: E731
    if not _http_ok(health):
        return False
    if requests.get(f"{base_url}{EXECUTION_WARMUP}", timeout=WARMUP_TIMEOUT).status_code >= 500:
        return False
    return _http_ok(health)


# the threshold `airflow jobs check` judges a job by (Job.is_alive), per role
THRESHOLDS = {
    "dag-processor": ("dag_processor", "health_check_threshold"),
    "triggerer": ("triggerer", "triggerer_health_check_threshold"),
    "scheduler": ("scheduler", "scheduler_health_check_threshold"),
}


def _job_alive(ctx: Ctx, node: str) -> bool:
    """What `airflow jobs check --job-type T --local` decides, read from the database itself:
    a job of the node's type on this host is running and its heartbeat is younger than the
    role's health-check threshold (as the topology sets it, scaled) — and (unlike the CLI) the
    job began after this container started: a row left by the node's previous container
    (killed or replaced a moment ago) does not count. Running the CLI in the
    container instead costs a whole Airflow import per probe (about 2.3 CPU-seconds, measured),
    which is most of what a booting triggerer or dag-processor burns."""
    started = runtime.started_at(ctx.container(node))
    if started is None:
        return False
    return job_alive(ctx, role_of(node), [node], started)


def job_alive(ctx: Ctx, role: str, hosts: list[str], started=None) -> bool:
    """A job of the role's type on one of ``hosts`` is running with a heartbeat younger than
    the role's health-check threshold (as the topology sets it, scaled), begun after
    ``started`` if given."""
    section, key = THRESHOLDS[role]
    default = timescale.TIMERS[f"{section}.{key}"][0]  # Airflow's default, as timescale knows it
    threshold = ctx.topology.effective_config().get(section, {}).get(key, default)
    sql = (
        "select 1 from job where job_type = %s and hostname = any(%s) and state = 'running' "
        "and latest_heartbeat > now() - make_interval(secs => %s)"
    )
    args: tuple = (JOB_TYPES.get(role, "SchedulerJob"), list(hosts), float(threshold))
    if started is not None:
        sql += " and start_date >= %s - interval '2 seconds'"
        args += (started,)
    return bool(pg.query(ctx, sql, args, timeout=3))


def _celery_ping(ctx: Ctx, node: str) -> bool:
    c = ctx.container(node)
    if f"celery@{node} ready." not in "\n".join(runtime.logs_tail(c, 200)):
        return False
    cmd = ["sh", "-c", CELERY_PING, "ping", node]
    return runtime.exec_run(c, cmd, timeout=20, node=node).exit_code == 0


def probe(ctx: Ctx, node: str) -> Probe:
    role = role_of(node)
    if role == "webserver":
        return Probe(
            f"GET {HEALTH_PATH_2}, its metadatabase healthy",
            lambda: webserver_ready(api_url(ctx, node)),
            interval=0.5,
        )
    if role == "api-server":
        return Probe(
            f"GET {HEALTH_PATH}, then {EXECUTION_WARMUP} (the Execution API builds its routes)",
            lambda: api_ready(api_url(ctx, node)),
            interval=0.5,
        )
    if role == "scheduler" and not ctx.topology.scheduler_health_served:
        # an Airflow 2 scheduler runs no health server here (its forked server can take the
        # scheduler's own database replies: docs/findings.md, "Airflow 2's scheduler at its
        # start"); its liveness is the job table's heartbeat
        return Probe(
            "SchedulerJob heartbeat in the job table (as airflow jobs check reads it)",
            lambda: _job_alive(ctx, node),
            interval=0.5,
        )
    if role == "scheduler":
        return Probe(
            ":8974/health", lambda: _http_ok(lambda: scheduler_health_url(ctx, node)), interval=0.5
        )
    if role in JOB_TYPES:
        return Probe(
            f"{JOB_TYPES[role]} heartbeat in the job table (as airflow jobs check reads it)",
            lambda: _job_alive(ctx, node),
            interval=0.5,
        )
    return Probe(
        f"celery inspect ping celery@{node}", lambda: _celery_ping(ctx, node), interval=1.0
    )


def migrate_spec(ctx: Ctx, node: str = "migrate", command: list[str] | None = None) -> NodeSpec:
    """A one-shot container running `airflow db migrate` (or ``command``, e.g. `airflow db
    downgrade`) straight against Postgres (``node``: ``migrate`` or ``migrate-N``, with that
    node's Airflow version)."""
    s = spec(ctx, node)
    s.name, s.role = node, "migrate"
    if command:
        s.command = command
    return s
