"""Host-side access to an Airflow 2 cluster's REST API (``/api/v1``, the webserver's), with the
same calls as :class:`testbed.api.AirflowAPI` so a drill does not care which line it talks to.

Basic auth against the admin the webserver imported (``[api] auth_backends`` is set to basic
auth on Airflow 2 clusters); every call carries a request timeout, like the v2 client's. Plain
``requests``: the official client of that API is another major version of the same package as
the v2 one, and both cannot be installed side by side.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from types import SimpleNamespace

import requests

from testbed.airflow_config import DAGS_FOLDER
from testbed.api import clear_body, wait_for_dag, wait_run
from testbed.core.errors import TestbedError


@dataclass
class AirflowV1API:
    base_url: str  # e.g. http://127.0.0.1:32778
    password: str
    username: str = "admin"
    timeout: float = 10

    def _call(self, method: str, path: str, what: str, **kwargs) -> requests.Response:
        r = requests.request(
            method,
            f"{self.base_url}/api/v1{path}",
            auth=(self.username, self.password),
            timeout=self.timeout,
            **kwargs,
        )
        if r.status_code >= 300:
            raise TestbedError(f"{what}: HTTP {r.status_code}: {r.text[:200]}")
        return r

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until the dag-processor has parsed and serialized ``dag_id``."""
        url, auth = f"{self.base_url}/api/v1/dags/{dag_id}", (self.username, self.password)
        status = lambda: requests.get(url, auth=auth, timeout=self.timeout).status_code  # noqa: E731
        wait_for_dag(status, dag_id, timeout)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        r = self._call(
            "POST", f"/dags/{dag_id}/dagRuns", f"trigger {dag_id}", json={"conf": conf or {}}
        )
        return r.json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        r = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}", f"run {dag_id}/{run_id}")
        return str(r.json()["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        return wait_run(self, dag_id, run_id, timeout)

    def dag_ids(self, paused: bool) -> list[str]:
        """The DAGs that are paused (``paused``) or not, page by page."""
        out: list[str] = []
        while True:
            params = {"limit": 100, "offset": len(out), "paused": str(paused).lower()}
            page = self._call("GET", "/dags", "list DAGs", params=params).json()
            out += [d["dag_id"] for d in page["dags"]]
            if not page["dags"] or len(out) >= page["total_entries"]:
                return out

    def set_paused(self, dag_id: str, paused: bool) -> None:
        what = f"{'pause' if paused else 'unpause'} {dag_id}"
        self._call("PATCH", f"/dags/{dag_id}", what, json={"is_paused": paused})

    def clear_task(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> int:
        """Clear one task instance of a run and its downstream, the run set running again."""
        body = clear_body(run_id, task_id, map_index)
        r = self._call("POST", f"/dags/{dag_id}/clearTaskInstances", f"clear {dag_id}", json=body)
        return len(r.json()["task_instances"])

    def parsed_files(self) -> set[str]:
        """The DAG files (relative to the DAG folder) of every DAG the webserver knows."""
        dags = self._call("GET", "/dags", "list DAGs", params={"limit": 1000}).json()["dags"]
        return {posixpath.relpath(d["fileloc"], DAGS_FOLDER) for d in dags if d.get("fileloc")}

    def import_errors(self) -> dict[str, str]:
        """The dag-processor's import errors: {file: its traceback}."""
        page = self._call("GET", "/importErrors", "import errors", params={"limit": 1000}).json()
        return {e["filename"]: e["stack_trace"] for e in page["import_errors"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> SimpleNamespace:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return SimpleNamespace(**self._call("GET", path, f"task {task_id}").json())

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        params = {"full_content": "true", **({"map_index": map_index} if map_index >= 0 else {})}
        headers = {"Accept": "text/plain"}
        return self._call("GET", path, f"log of {task_id}", params=params, headers=headers).text
