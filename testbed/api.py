"""Host-side access to a cluster's Airflow REST API through the official `apache-airflow-client`.

A token comes from the api-server's ``/auth/token`` (simple auth manager, per-run admin
password); every call carries a request timeout, so a hung api-server is an answer
("no answer"), never a hang of the testbed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import airflow_client.client as ac
import requests
from airflow_client.client.models.dag_patch_body import DAGPatchBody
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

from testbed.core.errors import TestbedError

TERMINAL_RUN_STATES = {"success", "failed"}


@dataclass
class AirflowAPI:
    base_url: str  # e.g. http://127.0.0.1:32778
    password: str
    username: str = "admin"
    timeout: float = 10

    def __post_init__(self) -> None:
        self._client: ac.ApiClient | None = None

    def token(self) -> str:
        r = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if r.status_code not in (200, 201):
            raise TestbedError(f"/auth/token answered {r.status_code}: {r.text[:200]}")
        return r.json()["access_token"]

    @property
    def client(self) -> ac.ApiClient:
        if self._client is None:
            # one retry at most: a call is bounded by about 2 x timeout, never urllib3's 4 x
            cfg = ac.Configuration(host=self.base_url, access_token=self.token(), retries=1)
            self._client = ac.ApiClient(cfg)
        return self._client

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until the dag-processor has parsed and serialized ``dag_id``."""
        api = ac.DAGApi(self.client)
        get = lambda: api.get_dag_without_preload_content(dag_id, _request_timeout=self.timeout)  # noqa: E731
        wait_for_dag(lambda: get().status, dag_id, timeout)

    # Run calls read the JSON themselves rather than the client's models: the client is of one
    # Airflow version, and an upgrade drill talks to api-servers of others (3.3.2's models
    # reject 3.2.2's DAG and run answers).
    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        body = TriggerDAGRunPostBody(logical_date=None, conf=conf or {})
        r = ac.DagRunApi(self.client).trigger_dag_run_without_preload_content(
            dag_id, body, _request_timeout=self.timeout
        )
        return _json(r, f"trigger {dag_id}")["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        r = ac.DagRunApi(self.client).get_dag_run_without_preload_content(
            dag_id, run_id, _request_timeout=self.timeout
        )
        return str(_json(r, f"run {dag_id}/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        return wait_run(self, dag_id, run_id, timeout)

    def dag_ids(self, paused: bool) -> list[str]:
        """The DAGs that are paused (``paused``) or not, page by page (the API caps a page at
        ``[api] maximum_page_limit``)."""
        out: list[str] = []
        while True:
            r = ac.DAGApi(self.client).get_dags_without_preload_content(
                limit=100, offset=len(out), paused=paused, _request_timeout=self.timeout
            )
            page = _json(r, "list DAGs")
            out += [d["dag_id"] for d in page["dags"]]
            if not page["dags"] or len(out) >= page["total_entries"]:
                return out

    def set_paused(self, dag_id: str, paused: bool) -> None:
        r = ac.DAGApi(self.client).patch_dag_without_preload_content(
            dag_id, DAGPatchBody(is_paused=paused), _request_timeout=self.timeout
        )
        _json(r, f"{'pause' if paused else 'unpause'} {dag_id}")

    def clear_task(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> int:
        """Clear one task instance of a run and its downstream, the run set running again, as
        `Clear` in the UI does; returns how many task instances were cleared."""
        r = requests.post(
            f"{self.base_url}/api/v2/dags/{dag_id}/clearTaskInstances",
            json=clear_body(run_id, task_id, map_index),
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=self.timeout,
        )
        if r.status_code >= 300:
            raise TestbedError(
                f"clear {dag_id}/{run_id}/{task_id}: HTTP {r.status_code}: {r.text[:200]}"
            )
        return len(r.json()["task_instances"])

    def parsed_files(self) -> set[str]:
        """The DAG files (relative to the DAG folder) of every DAG the api-server knows."""
        r = ac.DAGApi(self.client).get_dags_without_preload_content(
            limit=1000, _request_timeout=self.timeout
        )
        return {d.get("relative_fileloc") or "" for d in _json(r, "list DAGs")["dags"]}

    def import_errors(self) -> dict[str, str]:
        """The dag-processor's import errors: {file (relative): its traceback}."""
        r = ac.ImportErrorApi(self.client).get_import_errors_without_preload_content(
            limit=1000, _request_timeout=self.timeout
        )
        return {e["filename"]: e["stack_trace"] for e in _json(r, "import errors")["import_errors"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str):
        return ac.TaskInstanceApi(self.client).get_task_instance(
            dag_id, run_id, task_id, _request_timeout=self.timeout
        )

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> str:
        resp = ac.TaskInstanceApi(self.client).get_log(
            dag_id,
            run_id,
            task_id,
            try_number,
            full_content=True,
            map_index=map_index,
            _request_timeout=self.timeout,
        )
        return _log_text(resp.content)


def wait_for_dag(status: Callable[[], int], dag_id: str, timeout: float) -> None:
    """Ask ``status()`` (the HTTP status of the API's GET of the DAG, either API) every second
    until it is 200; a 404 means "not parsed yet", anything else, or the timeout, raises."""
    deadline = time.monotonic() + timeout
    while True:
        code = status()
        if code == 200:
            return
        if code != 404 or time.monotonic() > deadline:
            raise TestbedError(
                f"DAG {dag_id!r} not available after {timeout:g}s (HTTP {code})",
                hint="check the dag-processor's log: `testbed logs dag-processor`",
            )
        time.sleep(1)


def wait_run(api, dag_id: str, run_id: str, timeout: float) -> str:
    """Wait until the run is in a terminal state, asking ``api`` (either API's client); return
    the state (raise on timeout)."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        state = api.run_state(dag_id, run_id)
        if state in TERMINAL_RUN_STATES:
            return state
        time.sleep(1)
    raise TestbedError(f"run {dag_id}/{run_id} still {state} after {timeout:g}s")


def clear_body(run_id: str, task_id: str, map_index: int = -1) -> dict:
    """The body clearing one task instance (a mapped one by its index) and its downstream: only
    the fields every 3.x API takes (the client's model adds newer ones, which older refuse)."""
    which = [task_id, map_index] if map_index >= 0 else task_id
    return {
        "dag_run_id": run_id, "task_ids": [which], "dry_run": False, "only_failed": False,
        "reset_dag_runs": True, "include_downstream": True,
    }  # fmt: skip


def _json(response, what: str) -> dict:
    if response.status >= 300:
        raise TestbedError(f"{what}: HTTP {response.status}: {response.data[:200]!r}")
    return json.loads(response.data)


def _log_text(content) -> str:
    """The API returns structured log lines (Airflow 3) or plain text; flatten to text."""
    items = getattr(content, "actual_instance", content)
    if isinstance(items, str):
        return items
    return "\n".join(item if isinstance(item, str) else str(item.event) for item in items or [])
