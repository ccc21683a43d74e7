"""Kerberos authentication checks: a kerberized target saw each worker's own principal, and a
worker without a valid ticket is refused while the others carry on.

Observations they read (recorded by :mod:`testbed.observe`):

- ``kerberos_xcom`` (target: run name): ``{"run", "xcom": {"whoami[3]": {"hostname",
  "gss_authenticated", "principal", "encrypted", "user", "keytab_env", "keytab_env_exists"}}}``
  (what each task read from ``pg_stat_gssapi`` on the server, for its own session).
- ``task_log`` (target: run name): ``{"task_id", "map_index", "try_number", "hostname",
  "lines": [...]}``: the Kerberos/GSSAPI lines of a failed attempt's log.
- ``service_log`` (target: run name): ``{"run", "node", "lines": [...]}``: the GSSAPI lines
  of the kerberized server's log since the run was triggered (:mod:`testbed.observe.kerberos`).
- ``task_instance``: the metadata database's rows (``hostname`` is the node that ran it).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from testbed.checks.result import CheckResult
from testbed.checks.view import View, ti_label
from testbed.topology import worker_of_host

PRINCIPAL = "airflow/{host}.testbed.internal@TESTBED.INTERNAL"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the target saw the worker's own principal -------------------------------------------------
class AuthParams(Strict):
    run: str
    task: str = "whoami"
    hosts: list[str] | None = None  # only the task instances that ran on these nodes
    min_hosts: int = 1  # distinct workers that must have authenticated
    principal: str = PRINCIPAL  # what the server must report for a task run on {host}


def _latest_xcom(view: View, run: str) -> dict[str, Any]:
    seen = [o for o in view.observations("kerberos_xcom", run) if not o.get("error")]
    return (seen[-1]["value"] or {}).get("xcom", {}) if seen else {}


def _instances(view: View, run: str, task: str) -> list[dict[str, Any]]:
    """The latest observed row of each task instance of ``task`` in the run."""
    return [s[-1]["value"] for (t, _), s in sorted(view.task_series(run).items()) if t == task]


def _authenticated(ti: dict[str, Any], xcom: dict[str, Any], template: str) -> str | None:
    """None when the server saw this task's worker's own principal; else what was wrong."""
    host, label = ti.get("hostname"), ti_label(ti)
    if ti["state"] != "success":
        return f"{label} on {host} is {ti['state']}"
    seen = xcom.get(f"{ti['task_id']}[{ti['map_index']}]")
    if not isinstance(seen, dict):
        return f"{label} on {host}: no result (XCom) observed"
    expected = template.format(host=worker_of_host(host))  # a pod: its Deployment's
    if not seen.get("gss_authenticated"):
        return f"{label} on {host}: the server saw no GSSAPI authentication"
    if seen.get("principal") != expected:
        return f"{label} on {host}: the server saw {seen.get('principal')!r}, not {expected!r}"
    if seen.get("hostname") != host:
        return f"{label}: ran on {seen.get('hostname')!r} by its own account, {host!r} by the DB"
    if not seen.get("encrypted"):
        return f"{label} on {host}: the session was not GSSAPI-encrypted"
    return None


def _on(ti: dict[str, Any], hosts: list[str]) -> bool:
    """The task instance ran on one of ``hosts``: its hostname, or the worker it names (a
    Kubernetes pod's Deployment)."""
    host = ti.get("hostname") or ""
    return host in hosts or worker_of_host(host) in hosts


def kerberos_authenticated(view: View, p: AuthParams) -> CheckResult:
    """Every task instance (on ``hosts``) succeeded, and the kerberized server itself reported
    its session GSS-authenticated and encrypted as the principal of the worker that the metadata
    database says ran it; at least ``min_hosts`` distinct workers did."""
    if view.run(p.run) is None:
        return CheckResult.failed(f"run {p.run!r} was never triggered")
    tis = _instances(view, p.run, p.task)
    tis = [t for t in tis if p.hosts is None or _on(t, p.hosts)]
    if not tis:
        return CheckResult.failed(f"no task instance of {p.task} in run {p.run} observed")
    xcom = _latest_xcom(view, p.run)
    problems = [w for t in tis if (w := _authenticated(t, xcom, p.principal))]
    # the workers (on Kubernetes a pod names its Deployment: a replaced pod is the same worker)
    hosts = sorted({worker_of_host(t["hostname"]) for t in tis if t.get("hostname")})
    m = {"tasks": len(tis), "hosts": hosts, "bad": len(problems)}
    if problems:
        return CheckResult.failed(f"{len(problems)} problem(s): {'; '.join(problems[:6])}", **m)
    if len(hosts) < p.min_hosts:
        return CheckResult.failed(
            f"all {len(tis)} authenticated, but on {len(hosts)} worker(s) {hosts}, "
            f"not at least {p.min_hosts}",
            **m,
        )
    return CheckResult.passed(
        f"all {len(tis)} {p.task} tasks authenticated to the target as their own worker's "
        f"principal ({', '.join(hosts)})",
        **m,
    )


# -- a worker without a valid ticket is refused, the others carry on --------------------------
class RefusedParams(Strict):
    run: str
    host: str | None = None  # the worker whose tasks must have failed (default: every worker)
    task: str = "whoami"
    # a regex the failed attempts' logs must match; null: only that each failed and its log was
    # read (the task may be told no reason: then the server's log says it, ``server_error``)
    error: str | None = "GSS|Kerberos|ticket|KDC"
    # a regex the kerberized server's own log must match for this run (why it refused)
    server_error: str | None = None
    server: str = "pg-krb"
    min_tasks: int = 1  # failed task instances on ``host`` needed
    others: bool = True  # the tasks on every other worker succeeded and authenticated
    principal: str = PRINCIPAL

    @field_validator("error", "server_error")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {value!r} ({exc})") from None
        return value


def kerberos_refused(view: View, p: RefusedParams) -> CheckResult:
    """The tasks that ran on ``host`` (default: all) failed with a Kerberos error in their log
    (at least ``min_tasks`` of them); with ``others``, every task elsewhere authenticated as its
    worker."""
    if view.run(p.run) is None:
        return CheckResult.failed(f"run {p.run!r} was never triggered")
    tis = _instances(view, p.run, p.task)
    mine = [t for t in tis if p.host is None or _on(t, [p.host])]
    rest = [t for t in tis if t not in mine]
    where = p.host or "any worker"
    logs = {
        (o["value"]["task_id"], o["value"]["map_index"], o["value"]["try_number"]): o["value"]
        for o in view.observations("task_log", p.run)
        if not o.get("error")
    }
    pattern = re.compile(p.error, re.I) if p.error is not None else None
    problems, errors = [], []
    for t in mine:
        log = logs.get((t["task_id"], t["map_index"], t["try_number"]))
        if t["state"] != "failed":
            problems.append(f"{ti_label(t)} on {t.get('hostname')} is {t['state']}, not failed")
        elif log is None:
            problems.append(f"{ti_label(t)} on {t.get('hostname')}: its log was not read")
        elif pattern is None:
            continue
        elif not (hit := next((ln for ln in log["lines"] if pattern.search(ln)), None)):
            problems.append(f"{ti_label(t)} on {t.get('hostname')}: no /{p.error}/ in its log")
        else:
            errors.append(hit)
    if p.others:
        xcom = _latest_xcom(view, p.run)
        problems += [w for t in rest if (w := _authenticated(t, xcom, p.principal))]
    m = {
        "failed_on_host": sum(t["state"] == "failed" for t in mine),
        "others_ok": sum(t["state"] == "success" for t in rest),
        "first_error": _short(errors[0]) if errors else None,
    }
    if p.server_error is not None:
        m["server_error"] = _server_reason(view, p, problems)
    if len(mine) < p.min_tasks:
        problems.insert(0, f"{len(mine)} task instance(s) ran on {where}, not {p.min_tasks}+")
    if problems:
        return CheckResult.failed(f"{len(problems)} problem(s): {'; '.join(problems[:6])}", **m)
    server = m.get("server_error")
    why = m["first_error"] or server
    return CheckResult.passed(
        f"{len(mine)} task(s) on {where} refused ({why})"
        + (f"; the server logged: {server}" if server and server != why else "")
        + (f"; {len(rest)} on other workers authenticated" if p.others and rest else ""),
        **m,
    )


def _server_reason(view: View, p: RefusedParams, problems: list[str]) -> str | None:
    """The first line of the server's log for this run matching ``server_error`` (a problem is
    added when there is none)."""
    seen = [
        o
        for o in view.observations("service_log", p.run)
        if not o.get("error") and (o.get("value") or {}).get("node") == p.server
    ]
    if not seen:
        problems.append(f"the log of {p.server} was not read")
        return None
    pattern = re.compile(p.server_error or "", re.I)
    hit = next((ln for ln in seen[-1]["value"]["lines"] if pattern.search(ln)), None)
    if hit is None:
        lines = seen[-1]["value"]["lines"]
        said = f" (it says: {_short(lines[-1])})" if lines else " (nothing about GSSAPI)"
        problems.append(f"no /{p.server_error}/ in the log of {p.server} since run {p.run}{said}")
        return None
    return _short(hit)


def _short(line: str) -> str:
    """The informative tail of a log line (libpq's GSSAPI message)."""
    for marker in ("Minor code may provide more information: ", "failed: "):
        if marker in line:
            return line.split(marker, 1)[1].split('"')[0].strip()[:160]
    return line[-160:]
