"""Health probes: the API's and the schedulers' health endpoints, ``airflow jobs check`` on a
node, and the configuration Airflow itself reads on a node."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import requests

from testbed import drift, secret_options
from testbed.observe import core
from testbed.observe.core import describe_error, observe
from testbed.services import airflow

if TYPE_CHECKING:
    from testbed.cluster import Cluster


def api_health(cluster: Cluster) -> dict:
    """The API's health. With two or more api-servers, all of them are asked at once, each with
    the probe's whole timeout, and the first answer is the observation: the API answers if any
    api-server does, as a load balancer that health-checks every backend sees it. (Asking them
    in turn, sharing the timeout, left a loaded survivor ~1.5 s while one stopped, and it missed
    that share; the answers came in under the whole timeout.)"""

    def fn() -> Any:
        names = cluster.topology.api_server_names
        if len(names) == 1:
            return _health_of(cluster, names[0])
        return _first_health(cluster, names)

    # recorded as the first API node's (the api-server, or on Airflow 2 the webserver)
    return observe(cluster, "api_health", cluster.topology.api_server_names[0], fn)


def _health_of(cluster: Cluster, node: str) -> Any:
    url = f"{airflow.api_url(cluster, node)}{airflow.health_path(cluster)}"
    return requests.get(url, timeout=core.PROBE_TIMEOUT).json()


_ASKING: set[tuple[str, str]] = set()  # (run id, api-server) asked and not answered yet
_ASKING_LOCK = threading.Lock()


def _first_health(cluster: Cluster, names: list[str]) -> Any:
    """The first api-server's answer among ``names`` asked at once (daemon threads: a slow one
    never holds up the process); else what each one did. An api-server whose previous ask is
    still under way is not asked again (no pile-up of threads on a frozen one): it is silent."""
    answers: queue.Queue = queue.Queue()
    asked, errors = [], []
    for node in names:
        if _begin_ask(cluster.run_id, node):
            threading.Thread(
                target=_ask, args=(cluster, node, answers), daemon=True, name=f"api-health-{node}"
            ).start()
            asked.append(node)
        else:
            errors.append((node, TimeoutError("its previous health request is still unanswered")))
    deadline = time.monotonic() + core.PROBE_TIMEOUT + core.DEADLINE_SLACK / 2
    while len(errors) < len(names):
        try:
            node, value, exc = answers.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:  # requests' own timeout did not fire in time: still no answer
            break
        if exc is None:
            airflow.api_answered(cluster, node)
            return value
        errors.append((node, exc))
    done = {n for n, _ in errors}
    errors += [(n, TimeoutError()) for n in asked if n not in done]
    raise NoAPIAnswer(sorted(errors, key=lambda e: names.index(e[0])))


def _begin_ask(run_id: str, node: str) -> bool:
    with _ASKING_LOCK:
        if (run_id, node) in _ASKING:
            return False
        _ASKING.add((run_id, node))
        return True


def _ask(cluster: Cluster, node: str, answers: queue.Queue) -> None:
    try:  # the node may be gone mid-replace: its URL cannot even be made
        answers.put((node, _health_of(cluster, node), None))
    except Exception as exc:
        answers.put((node, None, exc))
    finally:
        with _ASKING_LOCK:
            _ASKING.discard((cluster.run_id, node))


class NoAPIAnswer(Exception):
    """None of the api-servers answered; says what each one did."""

    def __init__(self, errors: list[tuple[str, Exception]]) -> None:
        super().__init__("; ".join(f"{n}: {describe_error(e)}" for n, e in errors))
        self.errors = errors


def scheduler_health(cluster: Cluster, node: str = "scheduler") -> dict:
    def fn() -> Any:
        r = requests.get(airflow.scheduler_health_url(cluster, node), timeout=core.PROBE_TIMEOUT)
        return {"status": r.status_code}

    return observe(cluster, "scheduler_health", node, fn)


JOB_TYPES = {
    "scheduler": "SchedulerJob",
    "triggerer": "TriggererJob",
    "dag-processor": "DagProcessorJob",
}


def jobs_check(cluster: Cluster, node: str, job_type: str | None = None) -> dict:
    """``airflow jobs check --local`` on the node: is its own job alive (heartbeat fresh)?"""
    job_type = job_type or JOB_TYPES.get(airflow.role_of(node), "SchedulerJob")

    def fn() -> Any:
        cmd = ["airflow", "jobs", "check", "--job-type", job_type, "--local"]
        r = cluster.exec_in(node, cmd, timeout=30)
        if r.exit_code == 0:
            return {"ok": True}
        if "No alive jobs found" in r.output:  # the one answer that means "not alive"
            return {"ok": False}
        raise RuntimeError(f"exit {r.exit_code}: {r.output.strip()[-200:]}")

    return observe(cluster, "jobs_check", node, fn, timeout=30)


# a ``_cmd`` key also says whether the option Airflow read is that command's output (never the
# value: it is a secret)
CONFIG_SCRIPT = (
    "import json, sys\n"
    f"{drift.AS_LIBRARY}\n"
    "from airflow.configuration import conf, run_command\n"
    "out = {}\n"
    "for dotted in sys.argv[1:]:\n"
    "    s, k = dotted.split('.', 1)\n"
    "    out[dotted] = conf.get(s, k, fallback=None)\n"
    "    if k.endswith('_cmd') and out[dotted]:\n"
    "        same = conf.get(s, k[:-4], fallback=None) == run_command(out[dotted])\n"
    f"        out[dotted[:-4] + {secret_options.RESOLVED!r}] = "
    f"{secret_options.FROM_CMD!r} if same else 'another value'\n"
    "print(json.dumps(out))\n"
)


def config_in_force(cluster: Cluster, keys: list[str], node: str = "scheduler") -> dict:
    """The values Airflow itself reads on ``node`` for ``keys`` (section.key), not what the
    testbed meant to set: proof that the overrides took effect."""

    def fn() -> Any:
        cmd = ["python", "-c", CONFIG_SCRIPT, *keys]
        r = cluster.exec_in(node, cmd, timeout=30)
        if r.exit_code != 0:
            raise RuntimeError(r.output.strip().splitlines()[-1:] or r.exit_code)
        return json.loads(r.output.strip().splitlines()[-1])

    return observe(cluster, "config", node, fn, timeout=30)
