"""Remote task-log lookups: the lines of each failed attempt's log a check asks for (by default
the Kerberos/GSSAPI ones), read from the log bucket (MinIO) once the attempt's log is there."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from testbed import airflow_config as AC
from testbed.observe import core
from testbed.observe.core import observe
from testbed.services import minio

if TYPE_CHECKING:
    from testbed.cluster import Cluster

KERBEROS_LOG_LINE = re.compile(r"(?i)gss|kerberos|krb5|ticket|kdc|credential")
_LOGS_SEEN: set[tuple] = set()


def failed_task_logs(
    cluster: Cluster,
    name: str,
    dag_id: str,
    run_id: str,
    tis: list,
    pattern: re.Pattern = KERBEROS_LOG_LINE,
) -> None:
    """The lines matching ``pattern`` (default: Kerberos/GSSAPI) of each failed attempt's log
    (from MinIO, once it is there): one ``task_log`` observation per attempt, recorded once."""
    for ti in tis:
        key = (cluster.run_id, run_id, ti["task_id"], ti["map_index"], ti["try_number"])
        key += (pattern.pattern,)  # another check's lines are another look
        if ti["state"] != "failed" or key in _LOGS_SEEN:
            continue
        s3_key = AC.log_key(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])

        def fn(s3_key: str = s3_key, ti: dict = ti) -> Any:
            s3 = minio.s3(cluster, timeout=core.PROBE_TIMEOUT)
            body = s3.get_object(Bucket=AC.LOG_BUCKET, Key=s3_key)["Body"].read()
            lines = [_log_text(ln) for ln in body.decode("utf-8", "replace").splitlines()]
            return {
                "run": name,
                "task_id": ti["task_id"],
                "map_index": ti["map_index"],
                "try_number": ti["try_number"],
                "hostname": ti.get("hostname"),
                "lines": [ln[:600] for ln in lines if pattern.search(ln)][:20],
                "pattern": pattern.pattern,  # what the lines were picked by
            }

        obs = observe(cluster, "task_log", name, fn)
        if obs.get("error") is None:
            _LOGS_SEEN.add(key)


def _log_text(line: str) -> str:
    """A task log line as text: Airflow 3 writes JSON lines; the exception's type and message
    are in ``error_detail`` (libpq's GSSAPI error is the message)."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    parts = [str(record.get("event", ""))]
    for detail in record.get("error_detail") or []:
        if isinstance(detail, dict):
            parts.append(f"{detail.get('exc_type')}: {detail.get('exc_value')}")
    return " | ".join(p for p in parts if p)


def latest_instances(cluster: Cluster, dag_id: str, run_id: str) -> list[dict]:
    """The latest recorded row of each task instance of one run."""
    latest: dict[tuple, dict] = {}
    for e in cluster.history.snapshot():
        v = e.get("value") if e.get("probe") == "task_instance" else None
        if isinstance(v, dict) and (v.get("dag_id"), v.get("run_id")) == (dag_id, run_id):
            latest[(v["task_id"], v["map_index"])] = v
    return list(latest.values())


def gather_task_logs(cluster: Cluster, runs: dict, params: Any) -> None:
    """The failed attempts' log lines matching the check's ``error`` (any line without one)."""
    if params.run not in runs:
        return
    dag_id, run_id = runs[params.run]
    pattern = re.compile(params.error or ".", re.I)
    tis = latest_instances(cluster, dag_id, run_id)
    failed_task_logs(cluster, params.run, dag_id, run_id, tis, pattern)


GATHERERS = {"task_log": gather_task_logs}
