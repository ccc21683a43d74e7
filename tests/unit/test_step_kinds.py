"""The step kinds' registry: every action says what it means (plan line, compressed form), how
the engine carries it out (execute.HANDLERS) and what it is checked against across steps
(validate.VALIDATORS); the handlers call the Runner method with the step's fields."""

from __future__ import annotations

import pytest

from testbed.backend_limits import BACKEND_LIMITS
from testbed.engine import execute
from testbed.scenario import model as M
from testbed.scenario import validate
from testbed.scenario.base import StepKind

RUN = set(M.ACTIONS) - {"chaos"}  # a chaos step is replaced by plain steps when validated


def test_every_action_has_a_handler_a_plan_line_and_a_validator():
    assert set(execute.HANDLERS) == RUN
    assert set(validate.VALIDATORS) == RUN - {"sleep"}  # a sleep names nothing
    for action, model in M.ACTION_MODELS.items():
        assert issubclass(model, StepKind), action
        if action in RUN:
            assert model.describe is not StepKind.describe, action
    for limits in BACKEND_LIMITS.values():  # the steps a backend has not built are steps
        assert limits.steps_not_built <= set(M.ACTIONS)


class Recorder:
    """A duck-typed runner: records each method call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


@pytest.mark.parametrize(
    ("step", "call"),
    [
        (M.Trigger(name="a", dag="d", conf={"x": 1}), ("trigger", ("a", "d", {"x": 1}, 120.0), {})),
        (M.Wait(run="a", task="t"), ("wait", ("a", "success", 120.0, "t"), {})),
        (
            M.Fault(name="f", kind="link", target="*->redis", toxic="down", **{"for": 30}),
            (
                "fault",
                ("f", "link", "*->redis", 30.0),
                {"bound": 60.0, "delay": None, "when": None, "toxic": "down"},
            ),
        ),
        (M.Heal(fault="f"), ("heal", ("f", 240.0), {})),
        (
            M.AddNode(node="scheduler-2", wait=False),
            ("add_node", ("scheduler-2", 240.0, None, False), {}),
        ),
        (M.RemoveNode(node="scheduler-2"), ("remove_node", ("scheduler-2",), {})),
        (M.Sleep(seconds=5), ("sleep", (5.0,), {})),
        (M.Migrate(to="3.3.2"), ("migrate", ("migrate", "3.3.2", True, 300.0), {})),
        (M.WaitNode(node="migrate"), ("wait_node", ("migrate", "exited", 120.0), {})),
        (M.Backup(), ("backup", ("before",), {})),
        (M.Restore(name="b"), ("restore", ("b",), {})),
        (M.Workload(name="w", dag="d"), ("workload", ("w", "d", 10.0, {}), {})),
        (M.StopWorkload(name="w"), ("stop_workload", ("w",), {})),
    ],
)
def test_a_handler_calls_the_runner_with_the_steps_fields(step, call):
    runner = Recorder()
    execute._dispatch(runner, step)
    assert runner.calls == [call]


def test_an_expect_handler_passes_the_check_and_its_window():
    step = M.Expect(check="no_task_lost", within=30, finding=True)
    runner = Recorder()
    execute._dispatch(runner, step)
    ((name, args, kwargs),) = runner.calls
    assert (name, args[0], args[1].name) == ("expect", "no_task_lost", "no_task_lost")
    assert kwargs == {"within": 30.0, "during": None, "finding": True}


def test_an_upgrade_handler_passes_strategy_bound_and_rollback():
    step = M.Upgrade(to="3.3.2", nodes=["scheduler"], strategy="rolling")
    runner = Recorder()
    execute._dispatch(runner, step)
    assert runner.calls == [
        ("upgrade", ("3.3.2", ["scheduler"], "rolling", 180.0, 900.0, "restore", None, None, None),
         {})
    ]  # fmt: skip
    refused = M.Upgrade(to="3.3.2", refused_by="preflight")
    execute._dispatch(runner, refused)
    assert runner.calls[-1][1][-2] == "preflight" and "preflight to refuse" in refused.describe()
    cleaned = M.Upgrade(to="3.3.2", db_clean="2h")
    execute._dispatch(runner, cleaned)
    assert runner.calls[-1][1][-1] == 7200.0 and "older than 7200s" in cleaned.describe()
    seeded = M.SeedHistory(dag="smoke", runs=10)
    execute._dispatch(runner, seeded)
    assert runner.calls[-1] == ("seed_history", ("smoke", 10, 4, 0.0, 600.0), {})
