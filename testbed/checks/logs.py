"""Remote-log checks: an attempt's log object is in MinIO (or, as a recorded finding, is not)
and the API serves it; every finished attempt of a run has its log in remote storage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import View


class RemoteLogParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str
    task: str
    try_number: int = 1
    map_index: int = -1
    present: bool = True  # False: expect the object to be missing
    via_api: bool = True  # also require (when present) that the API serves it


def attempt_obs(view: View, dag_id: str, run_id: str, task: str, try_number: int, idx: int):
    found = [
        o
        for o in view.observations("remote_log")
        if (v := o.get("value"))
        and (v["dag_id"], v["run_id"], v["task_id"], v["try_number"])
        == (
            dag_id,
            run_id,
            task,
            try_number,
        )
        and v.get("map_index", -1) == idx
    ]
    return found[-1] if found else None


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
    run: str
    via_api: bool = True


def remote_logs_all(view: View, p: AllLogsParams) -> CheckResult:
    """Every attempt of every finished task instance of the run: in MinIO and served by the API."""
    ids = view.run(p.run)
    if ids is None:
        return CheckResult.failed(f"run {p.run!r} was never triggered")
    checked, missing = 0, []
    for (task, idx), series in sorted(view.task_series(p.run).items()):
        last = series[-1]["value"]
        if last["state"] not in ("success", "failed"):
            continue
        for attempt in range(1, last["try_number"] + 1):
            checked += 1
            obs = attempt_obs(view, *ids, task, attempt, idx)
            label = f"{task}" + (f"[{idx}]" if idx >= 0 else "") + f" try {attempt}"
            if obs is None:
                missing.append(f"{label} not looked for")
            elif not obs["value"]["present"]:
                missing.append(f"{label} not in MinIO")
            elif p.via_api and not obs["value"].get("api_readable"):
                missing.append(f"{label} not served by the API")
    if not checked:
        return CheckResult.failed(f"run {p.run} has no finished task instance")
    if missing:
        return CheckResult.failed(
            f"{len(missing)} of {checked} attempt logs: {'; '.join(missing[:6])}",
            checked=checked,
            missing=len(missing),
        )
    return CheckResult.passed(
        f"all {checked} finished attempts' logs in MinIO"
        + (" and served by the API" if p.via_api else ""),
        checked=checked,
    )
