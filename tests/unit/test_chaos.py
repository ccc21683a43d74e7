"""Seeded chaos without Docker: the draw, the schedule as a scenario and as YAML, replay from a
hand-written history, shrinking with a fake predicate, the chaos invariants' checks, and bad
CLI input refused before anything boots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.chaos import schedule as S
from testbed.chaos.shrink import Budget, ddmin, shrink
from testbed.checks import registry
from testbed.core.errors import ScenarioError
from testbed.scenario import chaos_generate as G
from testbed.scenario import from_data, load
from testbed.scenario.chaos_generate import ChaosError, Drawn, Ranges
from testbed.scenario.model import Fault, Heal, Sleep
from testbed.topology import Topology

TOPO = Topology()


def _draw(seed: int, **kw):
    args = {"duration": 300.0, "kinds": list(G.DEFAULT_KINDS), "targets": None, **kw}
    targets = args.pop("targets") or G.default_targets(TOPO)
    return G.draw(seed, args.pop("duration"), args.pop("kinds"), targets, TOPO, **args)


def _scenario(seed: int = 7, **chaos) -> object:
    step = {"seed": seed, "duration": "120s", **chaos}
    return from_data({"name": "c", "steps": [{"chaos": step}]})


# -- the draw -------------------------------------------------------------------------------
def test_same_seed_same_schedule_other_seeds_differ():
    assert _draw(11) == _draw(11)
    assert len({json.dumps([f.to_json() for f in _draw(s)]) for s in range(8)}) == 8


def test_schedule_fits_the_window_and_uses_only_what_was_asked():
    targets = ["scheduler", "worker-2", "*->redis"]
    ranges = Ranges(min_fault=3, max_fault=9, min_gap=2, max_gap=4)
    for seed in range(20):
        faults = _draw(seed, duration=60, kinds=["hang", "link"], targets=targets, ranges=ranges)
        assert faults and sum(f.gap + f.seconds for f in faults) <= 60
        for f in faults:
            assert f.kind in ("hang", "link") and f.target in targets
            assert 3 <= f.seconds <= 9 and 2 <= f.gap <= 4
            assert (f.kind == "link") == (f.target == "*->redis")
            if f.kind == "link":  # a Redis link: latency or down, never a blackhole
                assert f.params["toxic"] in ("latency", "down")


def test_default_targets_leave_out_infrastructure_and_the_api_server():
    targets = G.default_targets(TOPO)
    assert "scheduler" in targets and "worker-2" in targets and "scheduler->postgres" in targets
    assert not {"postgres", "redis", "minio", "toxiproxy", "api-server"} & set(targets)
    assert not [t for t in targets if t.startswith(("api-server->", "migrate->"))]


def test_postgres_links_never_drawn_down():
    assert G.toxics_for("scheduler->postgres", TOPO) == ("latency", "stall")
    assert G.toxics_for("scheduler->*", TOPO) == ("latency",)  # both kinds of link


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"targets": ["postgres"]}, "never node-fault targets"),
        ({"targets": ["sched"]}, "unknown chaos target 'sched'"),
        ({"duration": 6}, "too short for one fault"),
        ({"kinds": ["link"], "targets": ["worker-1"]}, "no target suits"),
    ],
)
def test_bad_parameters_are_refused(kw, message):
    targets = kw.pop("targets", None)
    with pytest.raises(ChaosError, match=message):
        if targets is not None:
            targets = G.check_targets(targets, TOPO)
        _draw(1, targets=targets, **kw)


# -- the schedule as a scenario -------------------------------------------------------------
def test_chaos_step_expands_to_plain_steps_and_carries_its_schedule():
    s = _scenario(7, faults=["hang", "kill"], max_fault="10s", max_gap="10s")
    (recorded,) = s.chaos_schedules
    schedule = S.Schedule.from_json(recorded)
    faults = [st for st in s.steps if isinstance(st, Fault)]
    assert [(f.kind, f.target) for f in faults] == [(d.kind, d.target) for d in schedule.faults]
    assert [h.fault for h in s.steps if isinstance(h, Heal)] == [f.name for f in faults]
    sleeps = sum(st.seconds for st in s.steps if isinstance(st, Sleep))
    assert sleeps == schedule.duration == 120
    checks = [st.check for st in s.steps if st.action == "expect"]
    assert {"no_task_lost", "remote_logs_all", "healthy"} <= set(checks)
    assert s.timeout >= schedule.duration + schedule.settle


def test_schedule_yaml_round_trips_through_the_loader(tmp_path):
    schedule = S.Schedule.from_json(_scenario(3).chaos_schedules[0])
    path = tmp_path / "shrunk.yaml"
    path.write_text(S.to_yaml(schedule, "chaos-s3-shrunk", "why"))
    text = path.read_text()
    assert text.startswith("# chaos seed 3")  # the header a person reads first
    loaded = load(path)
    again = S.to_scenario(schedule, "chaos-s3-shrunk")
    assert loaded.description == "why"
    assert loaded.model_dump(exclude={"description"}) == again.model_dump(exclude={"description"})
    assert loaded.chaos_schedules == []  # a plain scenario: steps only


def test_without_a_workload_no_run_invariants():
    s = _scenario(5, workload=None)
    checks = [st.check for st in s.steps if st.action == "expect"]
    assert "no_task_lost" not in checks and "remote_logs_all" not in checks
    assert not [st for st in s.steps if st.action == "workload"]


def test_extra_invariants_are_appended_and_validated():
    extra = {"name": "sched stable", "check": "health_stable", "probe": "scheduler_health"}
    s = _scenario(5, expect=[extra])
    assert s.steps[-1].label == "sched stable"
    with pytest.raises(ScenarioError, match="unknown check"):
        _scenario(5, expect=[{"check": "nope"}])


def test_errors_name_the_chaos_step_not_its_expansion():
    with pytest.raises(ScenarioError, match=r"steps\.0\.chaos\.workload: unknown DAG 'nope'"):
        from_data({"name": "c", "steps": [{"chaos": {"seed": 1, "workload": "nope"}}]})


def test_chaos_step_must_be_the_only_step():
    with pytest.raises(ScenarioError, match="only step"):
        from_data({"name": "c", "steps": [{"chaos": {"seed": 1}}, {"sleep": "1s"}]})


def test_replay_reads_the_schedule_from_a_hand_written_history(tmp_path):
    schedule = S.Schedule(
        seed=9,
        duration=30,
        faults=(Drawn("hang", "scheduler", 8, 4, {"mode": "pause"}),),
        workload=None,
        topology={"workers": 2},
    )
    events = [
        {"seq": 0, "kind": "scenario", "phase": "start", "wall": 1, "mono": 1},
        {"seq": 1, "kind": "chaos", "schedule": schedule.to_json(), "wall": 1, "mono": 1},
        {"seq": 2, "kind": "step", "phase": "start", "wall": 2, "mono": 2},
    ]
    (tmp_path / "history.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    assert S.from_record(tmp_path) == schedule
    assert S.from_record(tmp_path / "history.jsonl") == schedule
    replayed = S.runnable(S.from_record(tmp_path), "chaos-s9")
    assert replayed.chaos_schedules == [schedule.to_json()]
    (tmp_path / "history.jsonl").write_text(json.dumps(events[0]) + "\n")
    with pytest.raises(ScenarioError, match="no chaos schedule"):
        S.from_record(tmp_path)


# -- shrinking ------------------------------------------------------------------------------
def test_ddmin_finds_the_minimal_failing_subset_in_few_calls():
    calls = []

    def fails(subset):
        calls.append(subset)
        return {3, 11} <= set(subset)

    budget = Budget(100)
    assert ddmin(list(range(16)), fails, budget) == [3, 11]
    assert len(calls) == budget.runs <= 40
    assert len({tuple(c) for c in calls}) == len(calls)  # never the same candidate twice


def test_ddmin_stops_at_its_budget_with_a_failing_subset():
    def fails(subset):
        return 5 in subset

    budget = Budget(3)
    got = ddmin(list(range(8)), fails, budget)
    assert 5 in got and budget.runs == 3


def _schedule(*faults: Drawn) -> S.Schedule:
    asked = {"ranges": {"min_fault": 2.0, "min_gap": 1.0}}
    used = sum(f.gap + f.seconds for f in faults)
    return S.Schedule(7, used + 10, tuple(faults), None, asked=asked, topology={})


def test_shrink_keeps_the_culprit_and_shortens_it():
    culprit = Drawn("hang", "scheduler", 16, 6, {"mode": "pause"})
    others = [Drawn("kill", "worker-1", 9, 5), Drawn("link", "*->redis", 7, 8, {"toxic": "down"})]
    tried = []

    def fails(schedule):  # a scheduler hang of at least 4 s breaks the invariant
        tried.append(schedule)
        return any(f.target == "scheduler" and f.seconds >= 4 for f in schedule.faults)

    result = shrink(_schedule(others[0], culprit, others[1]), fails, max_runs=20)
    (only,) = result.schedule.faults
    assert (only.kind, only.target) == ("hang", "scheduler")
    assert only.seconds == 4 and only.gap == 1 and result.schedule.duration == 5
    assert result.runs == len(tried) <= 10


def test_shrink_never_runs_more_than_its_budget():
    faults = [Drawn("hang", f"worker-{i}", 5, 5) for i in range(1, 7)]
    calls = []
    result = shrink(_schedule(*faults), lambda s: calls.append(s) or bool(s.faults), max_runs=4)
    assert len(calls) == result.runs == 4
    assert 0 < len(result.schedule.faults) < 6


def test_shrink_tries_no_fault_first():
    """An invariant that fails with no fault at all is blamed on no fault."""
    faults = [Drawn("hang", f"worker-{i}", 5, 5) for i in range(1, 4)]
    calls = []
    result = shrink(_schedule(*faults), lambda s: calls.append(s) or True, max_runs=10)
    assert result.without_faults and result.schedule.faults == () and result.runs == 1
    assert calls[0].duration == _schedule(*faults).duration  # as long as the failing run
    assert [len(c.faults) for c in calls] == [0]


# -- the chaos invariants' checks ------------------------------------------------------------
def _ti(mono, run_id, task, try_number, state, host="worker-1", max_tries=2):
    value = dict(dag_id="d", run_id=run_id, task_id=task, map_index=-1, try_number=try_number)
    value.update(state=state, hostname=host, max_tries=max_tries)
    return {"kind": "observation", "probe": "task_instance", "mono": mono, "value": value,
            "round": 1}  # fmt: skip


def _trigger(name, run_id):
    return {"kind": "trigger", "name": name, "dag_id": "d", "run_id": run_id, "mono": 0}


def _check(name, events, **params):
    spec = registry.get(name)
    return spec.evaluate(events, spec.params.model_validate(params))


def test_no_task_lost_allows_failed_only_with_every_retry_used():
    events = [_trigger("a", "r1"), _ti(1, "r1", "t", 3, "failed"), _ti(1, "r1", "u", 1, "success")]
    assert _check("no_task_lost", events, retry_budget=True).ok
    assert not _check("no_task_lost", events).ok  # without the fault model: a failure
    early = [_trigger("a", "r1"), _ti(1, "r1", "t", 2, "failed")]  # one retry left
    result = _check("no_task_lost", early, retry_budget=True)
    assert not result.ok and "a.t ended failed" in result.detail


def test_downstream_of_a_spent_budget_is_not_lost_but_elsewhere_it_is():
    spent = [
        _trigger("a", "r1"),
        _ti(1, "r1", "t", 3, "failed"),
        _ti(1, "r1", "d", 0, "upstream_failed"),
    ]
    assert _check("no_task_lost", spent, retry_budget=True).ok
    alone = [
        _trigger("a", "r1"),
        _ti(1, "r1", "t", 1, "success"),
        _ti(1, "r1", "d", 0, "upstream_failed"),
    ]
    result = _check("no_task_lost", alone, retry_budget=True)
    assert not result.ok and "a.d ended upstream_failed" in result.detail


def _log(run_id, task, attempt, present):
    value = {"dag_id": "d", "run_id": run_id, "task_id": task, "try_number": attempt,
             "present": present, "api_readable": present, "key": "k"}  # fmt: skip
    return {"kind": "observation", "probe": "remote_log", "mono": 50, "value": value}


def test_remote_logs_all_over_every_run_excuses_only_attempts_killed_with_their_node():
    kill = {"kind": "fault", "phase": "inject", "fault": "kill", "target": "worker-1", "mono": 5}
    events = [
        _trigger("a", "r1"),
        _trigger("b", "r2"),
        _ti(1, "r1", "t", 1, "running", "worker-1"),
        kill,
        _ti(40, "r1", "t", 2, "success", "worker-2"),
        _ti(1, "r2", "t", 1, "success", "worker-2"),
        _log("r1", "t", 1, False),
        _log("r1", "t", 2, True),
        _log("r2", "t", 1, True),
    ]
    ok = _check("remote_logs_all", events, excuse_killed=True)
    assert ok.ok and ok.measurements["excused"] == ["a.t try 1"]
    assert not _check("remote_logs_all", events).ok
    hung = [{**e, "fault": "hang"} if e is kill else e for e in events]  # a hang loses nothing
    assert not _check("remote_logs_all", hung, excuse_killed=True).ok


def test_an_attempt_that_never_started_needs_no_log():
    """The scheduler could not publish try 1 (its Redis link down): queued, then up_for_retry,
    never on a worker; try 2 ran. Only try 2 needs a log; a try seen on a host does."""
    events = [
        _trigger("a", "r1"),
        _ti(1, "r1", "t", 1, "queued", ""),
        _ti(2, "r1", "t", 1, "up_for_retry", ""),
        _ti(12, "r1", "t", 2, "running", "worker-2"),
        _ti(13, "r1", "t", 2, "success", "worker-2"),
        _log("r1", "t", 1, False),
        _log("r1", "t", 2, True),
    ]
    ok = _check("remote_logs_all", events)
    assert ok.ok and ok.measurements["never_started"] == ["a.t try 1"], ok.detail
    ran = [e if i != 2 else _ti(2, "r1", "t", 1, "up_for_retry", "worker-1") for i, e in
           enumerate(events)]  # fmt: skip
    assert not _check("remote_logs_all", ran).ok  # try 1 was on worker-1: its log is missing
    unseen = [e for i, e in enumerate(events) if i not in (1, 2)]  # try 1 never read at all
    assert not _check("remote_logs_all", unseen).ok


def test_a_retry_that_never_started_keeps_the_earlier_trys_host_and_needs_no_log():
    """Airflow keeps try 1's hostname on the retry until try 2 starts: a try 2 never published
    (queued, then up_for_retry) carries worker-1 without having run there."""
    events = [
        _trigger("a", "r1"),
        _ti(1, "r1", "t", 1, "running", "worker-1"),
        _ti(5, "r1", "t", 2, "queued", "worker-1"),
        _ti(6, "r1", "t", 2, "up_for_retry", "worker-1"),
        _ti(12, "r1", "t", 3, "running", "worker-2"),
        _ti(13, "r1", "t", 3, "success", "worker-2"),
        _log("r1", "t", 1, True),
        _log("r1", "t", 2, False),
        _log("r1", "t", 3, True),
    ]
    ok = _check("remote_logs_all", events)
    assert ok.ok and ok.measurements["never_started"] == ["a.t try 2"], ok.detail
    moved = [e if i != 3 else _ti(6, "r1", "t", 2, "up_for_retry", "worker-2") for i, e in
             enumerate(events)]  # fmt: skip
    assert not _check("remote_logs_all", moved).ok  # a host of its own: it ran, its log is missing


def _started(event, start_epoch):
    return {**event, "value": {**event["value"], "start_epoch": start_epoch}}


def test_a_retry_is_known_to_have_started_by_a_new_start_date_not_by_its_host():
    """With ``start_date`` read: a try 2 that ran on the same worker as try 1, too fast for any
    read to see it running, still needs its log; one that kept try 1's start never ran."""
    ran = [
        _trigger("a", "r1"),
        _started(_ti(1, "r1", "t", 1, "running", "worker-1"), 100.0),
        _started(_ti(5, "r1", "t", 2, "queued", "worker-1"), 100.0),
        _started(_ti(6, "r1", "t", 2, "up_for_retry", "worker-1"), 130.0),  # it ran, failed
        _started(_ti(12, "r1", "t", 3, "success", "worker-1"), 140.0),
        _log("r1", "t", 1, True),
        _log("r1", "t", 2, False),
        _log("r1", "t", 3, True),
    ]
    result = _check("remote_logs_all", ran)
    assert not result.ok and "try 2 not in MinIO" in result.detail
    never = [_started(e, 100.0) if i == 3 else e for i, e in enumerate(ran)]
    ok = _check("remote_logs_all", never)
    assert ok.ok and ok.measurements["never_started"] == ["a.t try 2"], ok.detail


def test_a_retry_seen_succeeding_has_started_even_on_the_same_host():
    events = [
        _trigger("a", "r1"),
        _ti(1, "r1", "t", 1, "running", "worker-1"),
        _ti(5, "r1", "t", 2, "queued", "worker-1"),
        _ti(9, "r1", "t", 2, "success", "worker-1"),
        _log("r1", "t", 1, True),
        _log("r1", "t", 2, False),
    ]
    assert not _check("remote_logs_all", events).ok  # try 2's log is missing


# -- the CLI refuses bad input before anything boots -----------------------------------------
def _chaos(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "testbed", "chaos", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "1", "--faults", "hang,boom"], "unknown fault 'boom'; allowed: hang"),
        (["--seed", "1", "--targets", "sched"], "unknown chaos target 'sched'"),
        (["--seed", "1", "--duration", "5s"], "duration 5s is too short"),
        (["--duration", "1m"], "--seed is needed"),
        (["--replay", ".", "--seed", "2"], "--seed does not apply"),
    ],
)
def test_bad_cli_input_is_one_line_and_boots_nothing(args, message, tmp_path):
    r = _chaos(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert message in line
    assert not (tmp_path / ".testbed").exists()  # no run record: nothing was booted


def test_dry_run_prints_the_same_schedule_for_the_same_seed(tmp_path):
    args = ["--seed", "42", "--duration", "2m", "--dry-run"]
    first, second = _chaos(*args, cwd=tmp_path), _chaos(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "chaos seed 42" in first.stdout and first.stdout == second.stdout  # the result
    assert _chaos("--seed", "43", "--duration", "2m", "--dry-run", cwd=tmp_path).stdout != (
        first.stdout
    )


def test_a_named_execution_api_link_is_drawn_with_toxics_that_heal():
    """The Execution API's links are drawn only when named, then with their own toxics."""
    data = {
        "name": "api",
        "steps": [
            {
                "chaos": {
                    "seed": 1,
                    "duration": "3m",
                    "faults": ["link"],
                    "targets": ["*->api-server"],
                }
            }
        ],
    }
    s = from_data(data)
    faults = [st for st in s.steps if getattr(st, "action", None) == "fault"]
    assert faults and all(f.target.endswith("->api-server") for f in faults)
    assert {f.params()["toxic"] for f in faults} <= set(G.TOXICS["api-server"])
    default = G.default_targets(Topology(workers=2))
    assert not [t for t in default if t.endswith("->api-server")]  # not drawn unless named
