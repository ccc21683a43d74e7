"""Checks are pure functions over hand-written histories: no Docker, no cluster."""

from __future__ import annotations

import itertools

import pytest

from testbed.checks import REGISTRY

_seq = itertools.count()


def ev(kind: str, mono: float, **fields) -> dict:
    return {"seq": next(_seq), "kind": kind, "wall": 1e9 + mono, "mono": mono, **fields}


def api(mono: float, status: str | None = "healthy", error: str | None = None) -> dict:
    value = (
        None if error else {"metadatabase": {"status": "healthy"}, "scheduler": {"status": status}}
    )
    return ev(
        "observation", mono, probe="api_health", target="api-server", value=value, error=error
    )


def sched(mono: float, status: int | None = 200, error: str | None = None) -> dict:
    value = None if error else {"status": status}
    return ev(
        "observation", mono, probe="scheduler_health", target="scheduler", value=value, error=error
    )


def fault(mono: float, phase: str, name: str = "f") -> dict:
    return ev("fault", mono, phase=phase, name=name, fault="hang", target="scheduler")


def ti(
    mono, run_id="r1", task="work", state="running", try_number=1, job=7, host="worker-1", idx=-1
):
    value = {
        "dag_id": "long_task",
        "run_id": run_id,
        "task_id": task,
        "map_index": idx,
        "try_number": try_number,
        "state": state,
        "queued_by_job_id": job,
        "hostname": host,
    }
    return ev(
        "observation", mono, probe="task_instance", target="long_task", value=value, error=None
    )


TRIGGER = ev("trigger", 0.0, name="long", dag_id="long_task", run_id="r1", conf={})


def run(check: str, events: list[dict], since: float | None = None, **params):
    spec = REGISTRY[check]
    return spec.evaluate(events, spec.params(**params), since=since)


# -- health ------------------------------------------------------------------------------------
def test_flip_measures_the_delay_from_the_fault():
    h = [api(9), fault(10, "inject"), api(11), api(15.5, "unhealthy"), api(16, "unhealthy")]
    r = run("health_flipped", h, after="f")
    assert r.ok and r.measurements == {"delay": 5.5, "detected_by": "unhealthy"}


def test_flip_before_the_fault_does_not_count_and_late_flip_fails_max_delay():
    h = [api(5, "unhealthy"), api(9), fault(10, "inject"), api(11), api(30, "unhealthy")]
    assert not run("health_flipped", h, after="f", max_delay=12).ok
    assert run("health_flipped", h, after="f", max_delay=25).ok
    assert not run("health_flipped", h[:4], after="f").ok


def test_a_flip_needs_a_healthy_baseline_before_the_fault():
    already = [api(9, "unhealthy"), fault(10, "inject"), api(11, "unhealthy")]
    r = run("health_flipped", already, after="f")
    assert not r.ok and "not healthy before f (unhealthy)" in r.detail
    assert not run("health_flipped", already[1:], after="f").ok


def test_healthy_looks_at_the_latest_observation():
    assert run("healthy", [api(1, "unhealthy"), api(2)]).ok
    assert not run("healthy", [api(1), api(2, error="timeout")]).ok
    assert not run("healthy", []).ok


def test_no_answer_counts_as_detection_only_when_allowed():
    h = [sched(9), fault(10, "inject"), sched(12, error="timeout")]
    assert (
        run("health_flipped", h, probe="scheduler_health", after="f").measurements["detected_by"]
        == "no answer"
    )
    strict = run("health_flipped", h, probe="scheduler_health", after="f", no_answer_counts=False)
    assert not strict.ok and "never flipped" in strict.detail
    h.append(sched(13, 503))
    assert run("health_flipped", h, probe="scheduler_health", after="f", no_answer_counts=False).ok


def test_recovery_is_measured_from_the_heal():
    h = [fault(1, "inject"), api(5, "unhealthy"), fault(20, "heal"), api(21, "unhealthy"), api(22)]
    r = run("health_recovered", h, after="f")
    assert r.ok and r.measurements["delay"] == 2
    assert not run("health_recovered", h[:4], after="f").ok
    assert "no heal event" in run("health_recovered", h[:2], after="f").detail


def test_stable_is_about_the_window_only():
    h = [api(1, "unhealthy"), api(10), api(11)]
    assert run("health_stable", h, since=5).ok
    assert not run("health_stable", h).ok
    assert not run("health_stable", h, since=50).ok  # nothing observed is not "stable"


def test_stable_can_leave_out_probes_without_an_answer():
    h = [api(1), api(2, error="timeout: ReadTimeout"), api(3)]
    assert not run("health_stable", h).ok  # by default no answer is not healthy
    r = run("health_stable", h, no_answer_counts=False)
    assert r.ok and r.measurements["no_answer"] == 1 and "1 without an answer" in r.detail
    assert not run("health_stable", h + [api(4, "unhealthy")], no_answer_counts=False).ok
    silent = [api(1, error="timeout: ReadTimeout")]
    assert "no api_health answer" in run("health_stable", silent, no_answer_counts=False).detail


def test_probe_answered_throughout_an_upgrade_step():
    up = [ev("step", 10, action="upgrade", phase="start", index=2)]
    up += [api(9, error="connection: ConnectionError"), api(12), api(15)]
    up += [ev("step", 20, action="upgrade", phase="end", index=2), api(21, error="timeout")]
    r = run("probe_answered", up, probe="api_health", step="upgrade")
    assert r.ok and r.measurements["total"] == 2, r.detail  # only inside the step's window
    gap = up + [api(13, error="connection: ConnectionError")]
    r = run("probe_answered", gap, probe="api_health", step="upgrade")
    assert not r.ok and "no answer 1 of 3 times during the upgrade" in r.detail
    assert "no upgrade step ran" in run("probe_answered", [api(1)], step="upgrade").detail


def test_probe_answered_with_an_unhealthy_threshold_needs_silence_in_a_row():
    up = [ev("step", 10, action="upgrade", phase="start", index=2)]
    up += [api(11), api(12, error="timeout"), api(13), api(14, error="timeout"), api(15)]
    r = run("probe_answered", up, step="upgrade", probe="api_health", unhealthy_threshold=2)
    assert r.ok and r.measurements["longest_silence"] == 1, r.detail
    assert "never 2 in a row" in r.detail
    down = [*up, api(16, error="timeout"), api(17, error="connection: ConnectionError")]
    r = run("probe_answered", down, step="upgrade", probe="api_health", unhealthy_threshold=2)
    assert not r.ok and r.measurements["longest_silence"] == 2 and "2 in a row" in r.detail
    assert not run("probe_answered", up, step="upgrade", probe="api_health").ok  # default: 1


def test_probe_answered_narrowed_to_the_roll_of_one_node():
    """`rolled` judges only the handover of one node (its first to its last upgrade action):
    a silence while other roles restart is outside it, one inside it is judged."""
    up = [ev("step", 10, action="upgrade", phase="start", index=2)]
    up += [ev("upgrade", 11, phase="start", action="roll_pod", node="api-server")]
    up += [api(12), api(13, error="timeout"), api(14)]
    up += [ev("upgrade", 15, phase="end", action="roll_pod", node="api-server")]
    up += [ev("upgrade", 16, phase="start", action="roll_pod", node="dag-processor")]
    up += [api(17, error="timeout"), api(18, error="timeout"), api(19)]
    up += [ev("step", 20, action="upgrade", phase="end", index=2)]
    kw = {"step": "upgrade", "probe": "api_health", "unhealthy_threshold": 2}
    r = run("probe_answered", up, rolled="api-server", **kw)
    assert r.ok and r.measurements["total"] == 3 and "the roll of api-server" in r.detail
    assert not run("probe_answered", up, **kw).ok  # the whole upgrade: two in a row
    gap = [*up, api(13.5, error="connection: ConnectionError")]
    assert not run("probe_answered", sorted(gap, key=lambda e: e["mono"]), rolled="api-server",
                   **kw).ok  # fmt: skip
    r = run("probe_answered", up, rolled="triggerer", **kw)
    assert not r.ok and "never rolled triggerer" in r.detail


def test_probe_answered_counts_silence_while_the_fault_is_in_force():
    h = [
        fault(1, "inject"),
        sched(2),
        sched(3, error="timeout"),
        fault(5, "heal"),
        sched(6, error="timeout"),
    ]
    r = run("probe_answered", h, fault="f")
    assert not r.ok and r.measurements["no_answer"] == 1 and r.measurements["total"] == 2
    assert run("probe_answered", [fault(1, "inject"), sched(2)], fault="f").ok


# -- tasks -------------------------------------------------------------------------------------
def jobs(mono: float, *pairs: tuple[int, str]) -> dict:
    value = [{"id": i, "hostname": h, "state": "running"} for i, h in pairs]
    return ev(
        "observation", mono, probe="scheduler_job", target="postgres", value=value, error=None
    )


def test_adoption_needs_the_new_schedulers_job_id_and_success():
    base = [TRIGGER, ti(1, state="scheduled", try_number=0, job=None), jobs(1, (7, "scheduler"))]
    base += [ti(2, job=7), jobs(20, (9, "scheduler-2"))]
    adopted = [*base, ti(30, job=9), ti(40, state="success", job=9)]
    r = run("task_adopted", adopted, run="long", task="work", by="scheduler-2")
    assert r.ok and r.measurements["old_job"] == 7 and r.measurements["new_job"] == 9
    crash = ev("fault", 10, phase="inject", name="crash")
    timed = run(
        "task_adopted", [*adopted, crash], run="long", task="work", by="scheduler-2", after="crash"
    )
    assert timed.measurements["adopted_after_s"] == 20
    assert not run("task_adopted", base, run="long", task="work", by="scheduler-2").ok
    still_running = [*base, ti(30, job=9)]
    assert (
        "ended running"
        in run("task_adopted", still_running, run="long", task="work", by="scheduler-2").detail
    )


def test_a_retry_is_not_an_adoption():
    h = [
        TRIGGER,
        jobs(1, (9, "scheduler-2")),
        ti(2, job=7),
        ti(30, try_number=2, job=9, state="success"),
    ]
    r = run("task_adopted", h, run="long", task="work", by="scheduler-2")
    assert not r.ok and "retried" in r.detail
    assert r.settled  # no later look turns a retry into an adoption: a `within` wait ends
    still_running = run("task_adopted", h[:3], run="long", task="work", by="scheduler-2")
    assert not still_running.ok and not still_running.settled


def test_a_task_the_new_scheduler_queued_itself_was_never_adopted_for_good():
    h = [TRIGGER, jobs(1, (9, "scheduler-2")), ti(2, job=9), ti(30, job=9, state="success")]
    r = run("task_adopted", h, run="long", task="work", by="scheduler-2")
    assert not r.ok and "from the start" in r.detail and r.settled


def log_event(mono: float, event: str, task: str = "work") -> dict:
    value = [{"event": event, "task_id": task, "try_number": 1, "extra": ""}]
    return ev("observation", mono, probe="log_event", target="long_task", value=value, error=None)


def test_retry_after_heartbeat_timeout():
    h = [TRIGGER, ti(1), ti(30, state="up_for_retry"), ti(35, try_number=2, host="worker-2")]
    h += [
        log_event(31, "heartbeat timeout"),
        ti(60, try_number=2, state="success", host="worker-2"),
    ]
    r = run("task_retried", h, run="long", task="work")
    assert r.ok and r.measurements["tries"] == [1, 2]
    assert r.measurements["hosts"] == {1: "worker-1", 2: "worker-2"}
    no_event = [e for e in h if e.get("probe") != "log_event"]
    assert (
        "no 'heartbeat timeout' event"
        in run("task_retried", no_event, run="long", task="work").detail
    )
    assert not run("task_retried", [TRIGGER, ti(1, state="success")], run="long", task="work").ok


def test_no_task_lost_uses_the_latest_state_of_every_instance():
    h = [
        TRIGGER,
        ti(1, task="a", state="running"),
        ti(2, task="b", state="success"),
        ti(3, task="a", state="success"),
    ]
    assert run("no_task_lost", h).ok
    h.append(ti(4, task="c", state="queued"))
    r = run("no_task_lost", h)
    assert not r.ok and "long.c lost queued" in r.detail
    assert not run(
        "no_task_lost", [TRIGGER]
    ).ok  # a run without task instances is not "nothing lost"
    assert not run("no_task_lost", []).ok


def test_no_task_lost_settles_only_when_no_later_look_can_undo_the_loss():
    """A ``within`` wait ends at once on a settled failure: a try beyond ``max_try`` (tries only
    go up), or ``failed`` with every retry used; a task still running or retrying may yet end
    well, so its failure is not settled."""

    def with_max(state, try_number, max_tries=1):
        e = ti(2, state=state, try_number=try_number)
        e["value"]["max_tries"] = max_tries
        return [TRIGGER, e]

    assert run("no_task_lost", with_max("running", 2), max_try=1).settled
    assert run("no_task_lost", with_max("failed", 2)).settled  # its one retry used
    retrying = run("no_task_lost", with_max("up_for_retry", 1))
    assert not retrying.ok and not retrying.settled
    assert not run("no_task_lost", with_max("failed", 1, max_tries=3)).settled
    assert not run("no_task_lost", with_max("running", 1)).settled
    mixed = [*with_max("failed", 2), ti(3, task="b", state="queued")]  # b may still run; a not
    assert run("no_task_lost", mixed).settled


def test_no_task_lost_on_given_hosts_needs_every_host_to_have_served():
    h = [TRIGGER, ti(1, task="a", host="worker-3"), ti(2, task="a", state="success", host=None)]
    h += [ti(2, task="b", state="success", host="worker-3")]
    r = run("no_task_lost", h, hosts=["worker-3"])
    assert r.ok and r.measurements["ran_on"] == {"long.a": "worker-3", "long.b": "worker-3"}
    r = run("no_task_lost", h, hosts=["worker-1"])
    assert not r.ok and "long.a ran on worker-3" in r.detail
    r = run("no_task_lost", h, hosts=["worker-3", "worker-2"])
    assert not r.ok and "no task ran on worker-2" in r.detail


# -- remote logs -------------------------------------------------------------------------------
def rlog(mono, try_number, present=True, api_readable=True, task="work", idx=-1) -> dict:
    value = {
        "key": f"k{try_number}",
        "present": present,
        "api_readable": api_readable,
        "dag_id": "long_task",
        "run_id": "r1",
        "task_id": task,
        "try_number": try_number,
        "map_index": idx,
    }
    return ev("observation", mono, probe="remote_log", target="minio", value=value, error=None)


def test_remote_log_present_missing_and_unreadable():
    h = [TRIGGER, rlog(1, 1, present=False), rlog(2, 2)]
    assert run("remote_log", h, run="long", task="work", try_number=2).ok
    assert not run("remote_log", h, run="long", task="work", try_number=1).ok
    assert run("remote_log", h, run="long", task="work", try_number=1, present=False).ok
    unreadable = [TRIGGER, rlog(1, 1, api_readable=False)]
    assert "does not serve" in run("remote_log", unreadable, run="long", task="work").detail
    assert "never looked for" in run("remote_log", [TRIGGER], run="long", task="work").detail


def test_every_finished_attempt_of_a_run_needs_its_log():
    h = [
        TRIGGER,
        ti(1, task="one", idx=0, state="success"),
        ti(1, task="one", idx=1, state="success", try_number=2),
    ]
    h += [
        rlog(2, 1, task="one", idx=0),
        rlog(2, 1, task="one", idx=1),
        rlog(2, 2, task="one", idx=1),
    ]
    assert run("remote_logs_all", h, run="long").ok
    r = run("remote_logs_all", h[:-1], run="long")
    assert not r.ok and "one[1] try 2 not looked for" in r.detail


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_check_fails_on_an_empty_history(name):
    spec = REGISTRY[name]
    dummy = {"expected": {"a.b": "1"}, "nodes": ["x", "y"], "at_most": 1}
    either = {  # one of two
        "drained_cleanly": {"node": "x"},
        "probe_answered": {"fault": "x"},
        "task_outcome": {"state": "success"},
    }
    required = {
        k: dummy.get(k, "x") for k, f in spec.params.model_fields.items() if f.is_required()
    }
    assert spec.evaluate([], spec.params(**required, **either.get(name, {}))).ok is False


def test_a_task_instance_missing_from_the_latest_read_no_longer_exists():
    placeholder = {**ti(1, task="one", state=None), "round": 1}
    expanded = [{**ti(2, task="one", idx=i, state="success"), "round": 2} for i in (0, 1)]
    h = [TRIGGER, placeholder, *expanded]
    r = run("no_task_lost", h)
    assert r.ok and r.measurements["tasks"] == 2
    assert not run("no_task_lost", [TRIGGER, placeholder]).ok


def test_a_verdict_needs_every_step_and_no_abort():
    from testbed.scenario.verdict import compute

    held = ev("expectation", 1, name="x", check="healthy", ok=True, detail="fine")
    audit = ev("heal_audit", 2, problems=[])
    assert compute("s", [ev("scenario", 0), held, audit]).clean
    aborted = ev("aborted", 1.5, error="StepFailed: scenario timeout of 5s reached")
    v = compute("s", [ev("scenario", 0), held, aborted, audit])
    assert not v.ok and v.failed_steps[0]["error"].startswith("StepFailed")
    failed_step = ev("step", 1.2, phase="end", action="wait", name="r", error="timeout")
    assert not compute("s", [ev("scenario", 0), held, failed_step, audit]).ok
    finding_only = {**held, "finding": True}
    assert not compute("s", [ev("scenario", 0), finding_only, audit]).ok  # nothing was expected
    left = compute("s", [ev("scenario", 0), held, ev("heal_audit", 2, problems=["x is paused"])])
    assert left.ok and not left.clean


def test_overrides_must_be_what_airflow_reads():
    def conf(value):
        return ev("observation", 1, probe="config", target="scheduler", value=value, error=None)

    want = {"scheduler.scheduler_health_check_threshold": "20"}
    assert run(
        "config_in_force",
        [conf({"scheduler.scheduler_health_check_threshold": "20"})],
        expected=want,
    ).ok
    wrong = run(
        "config_in_force",
        [conf({"scheduler.scheduler_health_check_threshold": "30"})],
        expected=want,
    )
    assert not wrong.ok and "wanted '20'" in wrong.detail
    assert not run("config_in_force", [], expected=want).ok


def test_healthy_can_demand_a_fresh_heartbeat():
    from datetime import UTC, datetime

    def at(age: float) -> dict:
        obs = api(5)
        stamp = datetime.fromtimestamp(obs["wall"] - age, UTC).isoformat()
        obs["value"]["scheduler"]["latest_scheduler_heartbeat"] = stamp
        return obs

    assert run("healthy", [at(4.0)], max_age=8).measurements["age"] == 4.0
    stale = run("healthy", [at(16.3)], max_age=8)
    assert not stale.ok and "16.3s old" in stale.detail
    assert not run("healthy", [api(5)], max_age=8).ok  # no heartbeat in the answer


def test_adoption_by_any_other_scheduler_when_by_is_not_named():
    """On Kubernetes the replacement scheduler pod's name is not known in advance: without
    ``by`` any SchedulerJob other than the one that queued the task counts."""
    base = [TRIGGER, jobs(1, (7, "scheduler-5c5b-7bkqb")), ti(2, job=7)]
    base += [jobs(20, (7, "scheduler-5c5b-7bkqb"), (9, "scheduler-5c5b-x2k9q"))]
    adopted = [*base, ti(30, job=9), ti(40, state="success", job=9)]
    r = run("task_adopted", adopted, run="long", task="work")
    assert r.ok and r.measurements["new_job"] == 9 and "another scheduler" in r.detail
    never = [*base, ti(40, state="success", job=7)]
    assert not run("task_adopted", never, run="long", task="work").ok


def procs(mono: float, pids: list[int], cmdline: str = "testbed-child", error=None) -> dict:
    value = None if error else {"cmdline": cmdline, "pids": pids, "lines": [cmdline] * len(pids)}
    return ev("observation", mono, probe="processes", target="worker-1", value=value, error=error)


@pytest.mark.parametrize(
    ("looks", "running", "ok", "says"),
    [
        ([procs(1, [7])], True, True, "a process of worker-1 matching 'testbed-child' runs"),
        ([procs(1, [7]), procs(2, [])], True, False, "no process of worker-1"),
        ([procs(1, [7]), procs(2, [])], False, True, "no process of worker-1"),
        ([procs(1, []), procs(2, [7])], False, False, "still runs: testbed-child"),
        ([procs(1, [], error="timeout")], False, False, "could not be read: timeout"),
        ([procs(1, [], cmdline="other")], False, False, "never read"),
        ([], True, False, "never read"),
    ],
)
def test_process_running_judges_the_last_look(looks, running, ok, says):
    result = run(
        "process_running", looks, node="worker-1", cmdline="testbed-child", running=running
    )
    assert result.ok is ok and says in result.detail


def test_process_running_during_a_window_fails_on_any_look_that_saw_it():
    looks = [procs(1, []), procs(2, [9]), procs(3, [])]
    result = run(
        "process_running", looks, since=0.5, node="worker-1", cmdline="testbed-child", running=False
    )
    assert not result.ok and result.measurements["looks_not_as_expected"] == 1


def nlog(mono: float, count: int, line: str = "heartbeat", error=None) -> dict:
    value = (
        None
        if error
        else {
            "line": line,
            "since": 1e9,
            "count": count,
            "read": 50,
            "last": [f"slow {line}"] * min(count, 5),
        }
    )
    return ev("observation", mono, probe="node_log", target="scheduler", value=value, error=error)


@pytest.mark.parametrize(
    ("looks", "present", "ok", "says"),
    [
        ([nlog(1, 0), nlog(2, 2)], True, True, "has 2: slow heartbeat"),
        ([nlog(1, 0), nlog(2, 0)], True, False, "no line of scheduler's output since 'f'"),
        ([nlog(1, 0), nlog(2, 0)], False, True, "no line of scheduler's output"),
        ([nlog(1, 0), nlog(2, 1)], False, False, "has 1: slow heartbeat"),
        ([nlog(1, 0, error="timeout")], False, False, "could not be read: timeout"),
        ([nlog(1, 3, line="other")], True, False, "never read"),
    ],
)
def test_logged_judges_what_the_node_wrote_since_the_fault(looks, present, ok, says):
    result = run("logged", looks, node="scheduler", line="heartbeat", after="f", present=present)
    assert result.ok is ok and says in result.detail


def test_logged_reads_only_the_looks_since_its_own_fault():
    inject = ev("fault", 10, phase="inject", name="f")
    other = nlog(12, 3)  # gathered for an expectation counting from another moment
    mine = nlog(13, 0)
    mine["value"]["since"] = inject["wall"]
    result = run("logged", [inject, other, mine], node="scheduler", line="heartbeat", after="f")
    assert not result.ok and result.measurements["matches"] == 0
