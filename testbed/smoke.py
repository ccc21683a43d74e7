"""The smoke drill: the shortest end-to-end proof that a cluster works as the guide says.

Trigger the ``smoke`` DAG through the official API client; its task runs on a Celery worker
(or, with the LocalExecutor, under the scheduler: recorded); the run succeeds; the attempt's log
object appears in MinIO under the expected key; the API serves that log (read back from S3).
Every step is recorded in the run's history.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from testbed import airflow_config as AC
from testbed.api import AirflowAPI
from testbed.api_v1 import AirflowV1API
from testbed.cluster import Cluster
from testbed.services import airflow, minio

DAG_ID, TASK_ID, MARKER = "smoke", "hello", "TESTBED-SMOKE-MARKER"


@dataclass
class SmokeResult:
    dag_id: str
    run_id: str
    state: str
    worker: str | None
    try_number: int
    log_key: str
    log_in_s3: bool
    api_log_has_marker: bool
    task_hosts: tuple[str, ...] = ()  # where the task may run: the topology's task hosts

    @property
    def ok(self) -> bool:
        return (
            self.state == "success"
            and bool(self.worker)
            and (self.worker in self.task_hosts or self.worker.startswith("worker-"))
            and self.log_in_s3
            and self.api_log_has_marker
        )


def api_for(cluster: Cluster, node: str | None = None) -> AirflowAPI | AirflowV1API:
    """The cluster's REST API: v2 (the api-server's), or v1 on Airflow 2 (the webserver's)."""
    api = AirflowV1API if cluster.topology.line == 2 else AirflowAPI
    return api(airflow.api_url(cluster, node), cluster.secrets.admin_password)


def s3_object_present(cluster: Cluster, key: str, timeout: float = 30) -> bool:
    """Poll MinIO for ``key`` (logs are uploaded when the task ends, a moment after success)."""
    s3 = minio.s3(cluster)
    deadline = time.monotonic() + timeout
    while True:
        found = s3.list_objects_v2(Bucket=AC.LOG_BUCKET, Prefix=key).get("KeyCount", 0) > 0
        cluster.history.append(
            "observation",
            probe="remote_log",
            target="minio",
            value={"key": key, "present": found},
            error=None,
        )
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def run_smoke(cluster: Cluster, timeout: float = 180) -> SmokeResult:
    h = cluster.history
    api = api_for(cluster)
    api.wait_for_dag(DAG_ID)
    run_id = api.trigger(DAG_ID)
    h.append("trigger", name="smoke", dag_id=DAG_ID, run_id=run_id)
    state = api.wait_run(DAG_ID, run_id, timeout)
    ti = api.task_instance(DAG_ID, run_id, TASK_ID)
    ti_value = {
        "dag_id": DAG_ID,
        "run_id": run_id,
        "task_id": TASK_ID,
        "try_number": ti.try_number,
        "state": str(getattr(ti.state, "value", ti.state)),
        "hostname": ti.hostname,
    }
    h.append("observation", probe="task_instance", target="api-server", value=ti_value, error=None)
    key = AC.log_key(DAG_ID, run_id, TASK_ID, ti.try_number)
    in_s3 = s3_object_present(cluster, key)
    text = api.task_log(DAG_ID, run_id, TASK_ID, ti.try_number)
    result = SmokeResult(
        DAG_ID,
        run_id,
        state,
        ti.hostname,
        ti.try_number,
        key,
        in_s3,
        MARKER in text and f"s3://{AC.LOG_BUCKET}/{key}" in text,
        tuple(cluster.topology.task_hosts),
    )
    h.append("smoke", **asdict(result), ok=result.ok)
    (cluster.dir / "smoke.json").write_text(
        json.dumps({**asdict(result), "ok": result.ok}, indent=2)
    )
    return result
