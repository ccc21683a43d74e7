"""Task checks over task-instance observations (read from the metadata DB by the engine):
a task adopted by a new scheduler, a task retried after a heartbeat timeout, no task lost."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import TERMINAL_TI_STATES, View


class TaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str
    task: str
    map_index: int = -1


class AdoptedParams(TaskParams):
    # the node of the adopting scheduler, e.g. scheduler-2; none: any other SchedulerJob (a
    # Deployment's replacement pod has a name nobody knows in advance)
    by: str | None = None
    after: str | None = None  # the fault that orphaned it (for the adoption delay)


def task_adopted(view: View, p: AdoptedParams) -> CheckResult:
    """``queued_by_job_id`` moved to a SchedulerJob of node ``by`` (or, without ``by``, to
    another SchedulerJob than the one that queued it), and the task succeeded."""
    values = view.task(p.run, p.task, p.map_index)
    if not values:
        return CheckResult.failed(f"task {p.task} of run {p.run} was never observed")
    queued = [v for v in values if v.get("queued_by_job_id")]
    first_job = queued[0]["queued_by_job_id"] if queued else None
    jobs = [
        j for j in _jobs(view) if j["hostname"] == p.by or (p.by is None and j["id"] != first_job)
    ]
    new_ids = {j["id"] for j in jobs}
    by = p.by or "another scheduler"
    adopted = next((i for i, v in enumerate(values) if v.get("queued_by_job_id") in new_ids), None)
    final = values[-1]
    m = {"old_job": first_job, "new_jobs": sorted(new_ids), "final_state": final["state"]}
    if adopted is None:
        return CheckResult.failed(
            f"task {p.task} never queued_by a SchedulerJob of {by} "
            f"(jobs of {by} seen: {sorted(new_ids) or 'none'}; "
            f"queued_by_job_id last {final.get('queued_by_job_id')})",
            **m,
        )
    if first_job in new_ids:
        return CheckResult.failed_for_good(f"task {p.task} was queued by {by} from the start", **m)
    if values[adopted]["try_number"] != queued[0]["try_number"]:
        return CheckResult.failed_for_good(
            f"task {p.task} was retried (try {values[adopted]['try_number']}), not adopted", **m
        )
    if final["state"] != "success":
        return CheckResult.failed(f"task {p.task} adopted but ended {final['state']}", **m)
    m["new_job"] = values[adopted]["queued_by_job_id"]
    fault = view.fault(p.after) if p.after else None
    if fault is not None:
        series = view.task_series(p.run)[(p.task, p.map_index)]
        m["adopted_after_s"] = round(series[adopted]["mono"] - fault["mono"], 3)
    return CheckResult.passed(
        f"task {p.task} adopted: queued_by_job_id {first_job} -> {m['new_job']} ({by}), "
        f"then success on try {final['try_number']}",
        **m,
    )


def _jobs(view: View) -> list[dict]:
    out: dict[int, dict] = {}
    for obs in view.observations("scheduler_job"):
        for job in obs.get("value") or []:
            out[job["id"]] = job
    return list(out.values())


class RetriedParams(TaskParams):
    reason: str = "heartbeat timeout"  # the `log` table event that explains the retry
    state: str = "success"


def task_retried(view: View, p: RetriedParams) -> CheckResult:
    """try_number went up, the reason's event was logged, and the last try ended in ``state``."""
    values = view.task(p.run, p.task, p.map_index)
    if not values:
        return CheckResult.failed(f"task {p.task} of run {p.run} was never observed")
    tries = sorted({v["try_number"] for v in values})
    hosts = {v["try_number"]: v.get("hostname") for v in values if v.get("hostname")}
    events = [
        ev
        for obs in view.observations("log_event")
        for ev in (obs.get("value") or [])
        if ev.get("task_id") == p.task and p.reason.lower() in str(ev.get("event", "")).lower()
    ]
    final = values[-1]
    m = {"tries": tries, "hosts": hosts, "events": len(events), "final_state": final["state"]}
    if final["try_number"] < 2:
        return CheckResult.failed(f"task {p.task} never retried (tries {tries})", **m)
    if not events:
        return CheckResult.failed(f"no {p.reason!r} event logged for task {p.task}", **m)
    if final["state"] != p.state:
        return CheckResult.failed(
            f"task {p.task} retried but try {final['try_number']} ended {final['state']}", **m
        )
    return CheckResult.passed(
        f"task {p.task} retried after {p.reason!r}: tries {tries} on {hosts}, "
        f"try {final['try_number']} {final['state']}",
        **m,
    )


class NoLossParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runs: list[str] | None = None  # default: every run the scenario triggered
    state: str = "success"
    min_tasks: int = 1
    max_try: int | None = None  # e.g. 1: a retry counts as a loss too (an upgrade drill)
    # a chaos run's fault model: ``failed`` is allowed only once the task used every try its
    # retries gave it (try_number > max_tries); any other end is a loss
    retry_budget: bool = False
    # the workers the tasks must have run on: each task's last try on one of them, and each of
    # them ran at least one (e.g. an old-version worker really served the runs)
    hosts: list[str] | None = None
    # at least this many task instances needed more than one try: the drill's fault had an
    # effect (e.g. a broker outage made the scheduler's sends fail), not only no harm
    min_retried: int = 0


DOWNSTREAM_OF_FAILED = ("upstream_failed", "skipped")


def no_task_lost(view: View, p: NoLossParams) -> CheckResult:
    """Every task instance of the runs ended in ``state`` (its latest observation), and on
    at most ``max_try`` tries when that is given; with ``retry_budget``, ``failed`` after its
    last allowed try also counts as an end (how many is measured)."""
    names = p.runs if p.runs is not None else view.run_names()
    if not names:
        return CheckResult.failed("no run was triggered")
    total, wrong, max_try, spent, retried = 0, [], 0, [], []
    final = 0  # problems no later look can undo (see _for_good)
    for name in names:
        series = view.task_series(name)
        if len(series) < p.min_tasks:
            wrong.append(f"{name}: {len(series)} task instances observed")
        run_spent = p.retry_budget and any(_budget_spent(o[-1]["value"]) for o in series.values())
        for (task_id, idx), obs in sorted(series.items()):
            total += 1
            value = obs[-1]["value"]
            tries = value.get("try_number") or 0
            max_try = max(max_try, tries)
            label = f"{name}.{task_id}" + ("" if idx < 0 else f"[{idx}]")
            if tries > 1:
                retried.append(label)
            if p.retry_budget and _budget_spent(value):
                spent.append(f"{label} (try {tries} of {value['max_tries'] + 1})")
            elif run_spent and value["state"] in DOWNSTREAM_OF_FAILED:
                continue  # downstream of a task that used its whole retry budget
            elif value["state"] != p.state:
                kind = "lost" if value["state"] not in TERMINAL_TI_STATES else "ended"
                wrong.append(f"{label} {kind} {value['state']}")
                final += _for_good(value, p)
            elif p.max_try is not None and tries > p.max_try:
                wrong.append(f"{label} retried: try {tries}")
                final += 1
    m = {"tasks": total, "max_try": max_try, "budget_spent": spent, "retried": retried}
    if len(retried) < p.min_retried:
        wrong.append(
            f"{len(retried)} task instance(s) retried, fewer than {p.min_retried}: the fault "
            "did not show its effect on the tasks"
        )
    if p.hosts is not None:
        ran = _hosts_of(view, names)
        m["ran_on"] = ran
        wrong += [f"{label} ran on {host}" for label, host in sorted(ran.items())
                  if host not in p.hosts]  # fmt: skip
        wrong += [f"no task ran on {h}" for h in p.hosts if h not in ran.values()]
    if wrong:
        # one problem for good is enough: the check can no longer hold, so waiting cannot help
        return (CheckResult.failed_for_good if final else CheckResult.failed)(
            f"{len(wrong)} problem(s): {'; '.join(wrong[:8])}", bad=len(wrong), **m
        )
    budget = f"; {len(spent)} failed with every retry used: {', '.join(spent[:4])}" if spent else ""
    budget += f"; {len(retried)} needed more than one try" if p.min_retried else ""
    return CheckResult.passed(
        f"all {total} task instances of {len(names)} run(s) ended {p.state} (max try "
        f"{max_try}){budget}",
        **m,
    )


def _hosts_of(view: View, names: list[str]) -> dict[str, str]:
    """Where each task instance of the runs last ran (the hostname of its latest row that
    has one); one that never ran anywhere (skipped, upstream failed) is not listed."""
    out = {}
    for name in names:
        for (task_id, idx), obs in view.task_series(name).items():
            host = next((o["value"]["hostname"] for o in reversed(obs)
                         if o["value"].get("hostname")), None)  # fmt: skip
            if host is not None:
                out[f"{name}.{task_id}" + ("" if idx < 0 else f"[{idx}]")] = host
    return out


def _for_good(value: dict, p: NoLossParams) -> bool:
    """A task instance's wrong end that no later look can undo (nothing in a drill clears a
    task while an expectation waits): a try beyond ``max_try`` (tries only go up), or ``failed``
    with no retry left, where ``success`` was due."""
    tries = value.get("try_number") or 0
    if p.max_try is not None and tries > p.max_try:
        return True
    return p.state == "success" and _budget_spent(value)


def _budget_spent(value: dict) -> bool:
    """Failed on its last allowed try: the retry budget ran out (not a loss)."""
    limit = value.get("max_tries")
    return value["state"] == "failed" and limit is not None and value["try_number"] > limit
