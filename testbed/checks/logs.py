"""Remote-log checks: an attempt's log object is in MinIO (or, as a recorded finding, is not)
and the API serves it; every finished attempt of a run has its log in remote storage."""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import View

# kill, stop, restart, replace, remove, pod_delete
from testbed.faults.registry import LOSING_FAULTS


class RemoteLogParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str
    task: str
    try_number: int = 1
    map_index: int = -1
    present: bool = True  # False: expect the object to be missing
    via_api: bool = True  # also require (when present) that the API serves it


def attempt_obs(view: View, dag_id: str, run_id: str, task: str, try_number: int, idx: int):
    """The attempt's log as last observed — or, if any observation found it in MinIO and served
    by the API, that one (a log object does not disappear: a later "missing" from a look that
    overlapped is not news)."""
    found = view.remote_logs().get((dag_id, run_id, task, try_number, idx), [])
    good = [o for o in found if o["value"]["present"] and o["value"].get("api_readable")]
    return (good or found or [None])[-1]


def remote_log(view: View, p: RemoteLogParams) -> CheckResult:
    ids = view.run(p.run)
    if ids is None:
        return CheckResult.failed(f"run {p.run!r} was never triggered")
    obs = attempt_obs(view, *ids, p.task, p.try_number, p.map_index)
    what = f"{p.task} try {p.try_number}"
    if obs is None:
        return CheckResult.failed(f"remote log of {what} was never looked for")
    v = obs["value"]
    if not p.present:
        if v["present"]:
            return CheckResult.failed(f"log of {what} IS in MinIO ({v['key']})", key=v["key"])
        return CheckResult.passed(f"log of {what} is missing from MinIO ({v['key']})", key=v["key"])
    if not v["present"]:
        return CheckResult.failed(f"log of {what} missing from MinIO: {v['key']}", key=v["key"])
    if p.via_api and not v.get("api_readable"):
        return CheckResult.failed(f"log of {what} is in MinIO but the API does not serve it")
    return CheckResult.passed(
        f"log of {what} in MinIO" + (" and served by the API" if p.via_api else ""), key=v["key"]
    )


class AllLogsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str | None = None  # default: every run the scenario triggered
    via_api: bool = True
    # an attempt whose node was killed or restarted while it ran is not required: a killed
    # worker uploads no log (the worker_node_loss drill's finding); how many is measured
    excuse_killed: bool = False


def remote_logs_all(view: View, p: AllLogsParams) -> CheckResult:
    """Every attempt of every finished task instance of the run (default: of every run): in
    MinIO and served by the API. An attempt that never started on a worker (every read of it
    had no host: e.g. the scheduler could not publish it to the broker and failed it) wrote no
    log and needs none; how many is measured."""
    names = [p.run] if p.run is not None else view.run_names()
    if not names:
        return CheckResult.failed("no run was triggered")
    checked, missing, excused, never = 0, [], [], []
    for name in names:
        ids = view.run(name)
        if ids is None:
            return CheckResult.failed(f"run {name!r} was never triggered")
        for (task, idx), series in sorted(view.task_series(name).items()):
            last = series[-1]["value"]
            if last["state"] not in ("success", "failed"):
                continue
            for attempt in range(1, last["try_number"] + 1):
                label = f"{task}" + (f"[{idx}]" if idx >= 0 else "") + f" try {attempt}"
                label = label if p.run is not None else f"{name}.{label}"
                if _never_started(series, attempt):
                    never.append(label)
                    continue
                problem = _attempt_problem(view, ids, task, attempt, idx, p.via_api)
                if problem and p.excuse_killed and _killed_while_running(view, series, attempt):
                    excused.append(label)
                    continue
                checked += 1
                if problem:
                    missing.append(f"{label} {problem}")
    result = _all_logs_result(names if p.run is None else [p.run], checked, missing, excused, p)
    note = f"; {len(never)} never started on a worker: {', '.join(never[:4])}" if never else ""
    return replace(
        result,
        detail=result.detail + note,
        measurements={**result.measurements, "never_started": never},
    )


def _never_started(series: list[dict], attempt: int) -> bool:
    """No read of this attempt saw it start on a worker (it was read at least once: an attempt
    never seen is not assumed to be one that never ran). A try that starts gets a new
    ``start_date``; until then Airflow keeps the previous try's ``start_date`` and
    ``hostname``, so neither proves this attempt ran. (Histories recorded before
    ``start_epoch`` was read: a host no earlier try was seen on.)"""
    mine = [o["value"] for o in series if o["value"]["try_number"] == attempt]
    earlier = [o["value"] for o in series if o["value"]["try_number"] < attempt]
    if not mine or any(v["state"] in ("running", "success") for v in mine):
        return False
    if all("start_epoch" in v for v in mine):
        before = max((v.get("start_epoch") or 0.0 for v in earlier), default=0.0)
        return not any((v.get("start_epoch") or 0.0) > before for v in mine)
    inherited = {v.get("hostname") for v in earlier}
    return not any(v.get("hostname") and v["hostname"] not in inherited for v in mine)


def _attempt_problem(view: View, ids, task: str, attempt: int, idx: int, via_api: bool):
    obs = attempt_obs(view, *ids, task, attempt, idx)
    if obs is None:
        return "not looked for"
    if not obs["value"]["present"]:
        return "not in MinIO"
    if via_api and not obs["value"].get("api_readable"):
        return "not served by the API"
    return None


def _killed_while_running(view: View, series: list[dict], attempt: int) -> bool:
    """A kill/restart-like fault hit the node this attempt ran on while the attempt was the
    task instance's latest (from its first observation to the next try's)."""
    mine = [o for o in series if o["value"]["try_number"] == attempt]
    later = [o for o in series if o["value"]["try_number"] > attempt]
    hosts = {o["value"].get("hostname") for o in mine} - {None, ""}
    if not mine or not hosts:
        return False
    start, end = mine[0]["mono"], later[0]["mono"] if later else float("inf")
    return any(
        e.get("fault") in LOSING_FAULTS
        and start <= e["mono"] <= end
        and (
            (e.get("phase") == "inject" and e.get("target") in hosts)
            # a pod_delete names a role; the pods it deleted are the hostnames tasks record
            or (e.get("phase") == "deleted" and hosts & set(e.get("pods") or ()))
        )
        for e in view.of("fault")
    )


def _all_logs_result(names, checked, missing, excused, p: AllLogsParams) -> CheckResult:
    where = f"run {names[0]}" if len(names) == 1 else f"{len(names)} runs"
    m = {"checked": checked, "excused": excused}
    if not checked and not excused:
        return CheckResult.failed(f"{where}: no finished task instance", **m)
    if missing:
        return CheckResult.failed(
            f"{len(missing)} of {checked} attempt logs: {'; '.join(missing[:6])}",
            missing=len(missing),
            **m,
        )
    note = f" ({len(excused)} lost with a killed node: {', '.join(excused[:4])})" if excused else ""
    return CheckResult.passed(
        f"all {checked} finished attempts' logs in MinIO"
        + (" and served by the API" if p.via_api else "")
        + note,
        **m,
    )
