"""The step models: ``trigger``, ``wait``, ``heal``, ``add_node``, ``remove_node``, ``sleep``,
``expect``, ``workload``, ``stop_workload``; ``fault`` (one model per fault kind,
:mod:`testbed.scenario.steps_fault`), the upgrade steps (:mod:`testbed.scenario.steps_upgrade`)
and ``chaos`` (:mod:`testbed.scenario.steps_chaos`) live apart. ``Step`` is the union of all
of them, told apart by ``action``; ``ACTIONS`` and ``ACTION_MODELS`` name them in that order
(the order error messages list them in). Each model says what it means
(:class:`~testbed.scenario.base.StepKind`): its bound, its plan line (``describe``) and its
compressed form (``compress``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from testbed import timescale
from testbed.checks import registry
from testbed.core.values import Duration
from testbed.scenario.base import NAME, Bounded, StepKind, Version
from testbed.scenario.steps_chaos import Chaos
from testbed.scenario.steps_fault import Fault, FaultByKind
from testbed.scenario.steps_upgrade import (
    Backup,
    Migrate,
    Restore,
    SeedHistory,
    Upgrade,
    WaitNode,
)

TI_STATES = ("queued", "running", "deferred", "success", "failed", "up_for_retry", "scheduled")
EXPECT_SLACK = 15.0  # one last round of on-demand probes after an expectation's window
DETECTION_PARAMS = ("max_delay", "max_age", "max_interval")  # compressed like Airflow's timers


class Trigger(Bounded):
    action: Literal["trigger"] = "trigger"
    name: str = Field(pattern=NAME)
    dag: str
    conf: dict[str, Any] = {}

    def describe(self) -> str:
        conf = f" conf={self.conf}" if self.conf else ""
        return f"trigger {self.dag} as {self.name!r}{conf}"


class Wait(StepKind):
    action: Literal["wait"] = "wait"
    run: str
    task: str | None = None
    state: Literal[TI_STATES] = "success"  # type: ignore[valid-type]
    timeout: Duration = 120.0

    def bound(self) -> float:
        return self.timeout

    def describe(self) -> str:
        what = f"task {self.task} of {self.run}" if self.task else f"run {self.run}"
        return f"wait until {what} is {self.state} (at most {self.timeout:g}s)"


class Heal(Bounded):
    action: Literal["heal"] = "heal"
    fault: str

    def describe(self) -> str:
        return f"heal {self.fault!r}"


class AddNode(Bounded):
    """One more node (e.g. ``scheduler-2``), of ``version`` if given (e.g. a newer scheduler
    against an older schema); ``wait: false`` does not wait for it to be ready."""

    action: Literal["add_node"] = "add_node"
    node: str
    version: Version | None = None
    wait: bool = True

    def describe(self) -> str:
        version = f" on Airflow {self.version}" if self.version else ""
        wait = "and wait until it is ready" if self.wait else "without waiting"
        return f"add node {self.node}{version} ({wait})"


class RemoveNode(Bounded):
    """Remove a node added earlier (its container and disk), e.g. a refused ``scheduler-2``."""

    action: Literal["remove_node"] = "remove_node"
    node: str

    def describe(self) -> str:
        return f"remove node {self.node}"


class PushDags(Bounded):
    """A deploy through the git server (``topology.dag_sync: git`` or ``bundle``): each of
    ``files`` ({path in the DAG folder: a file with its new content, relative to the scenario})
    committed and pushed. The nodes see it at their next pull (git) or the bundle's next refresh;
    the commit is in the record."""

    action: Literal["push_dags"] = "push_dags"
    files: dict[str, str] = Field(min_length=1)
    message: str = "a deploy"

    def describe(self) -> str:
        return f"push {', '.join(sorted(self.files))} to the git server ({self.message})"


class Sleep(StepKind):
    action: Literal["sleep"] = "sleep"
    seconds: Duration

    def bound(self) -> float:
        return self.seconds

    def describe(self) -> str:
        return f"sleep {self.seconds:g}s"

    def compress(self, ts: float) -> Sleep:
        return self.model_copy(update={"seconds": timescale.duration(self.seconds, ts)})


class Expect(StepKind):
    """``within``: holds at some point before T (polled); ``during``: holds over the window."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    action: Literal["expect"] = "expect"
    check: str
    name: str | None = None
    within: Duration | None = None
    during: Duration | None = None
    finding: bool = False  # recorded and reported, but not part of the verdict

    @model_validator(mode="after")
    def _params(self) -> Expect:
        if self.within is not None and self.during is not None:
            raise ValueError("use either 'within' (eventually) or 'during' (always), not both")
        spec = registry.REGISTRY.get(self.check)
        if spec is None:
            raise ValueError(
                f"unknown check {self.check!r}; allowed: {', '.join(sorted(registry.REGISTRY))}"
            )
        allowed = sorted(spec.params.model_fields)
        unknown = sorted(set(self.model_extra or {}) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)} for check {self.check}; "
                f"allowed: {', '.join(allowed)} (and name, within, during, finding)"
            )
        try:
            spec.params.model_validate(self.model_extra or {})
        except ValidationError as exc:
            problems = [
                f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors()
            ]
            raise ValueError(f"check {self.check}: {'; '.join(problems)}") from None
        return self

    @property
    def label(self) -> str:
        return self.name or self.check

    def bound(self) -> float:
        return (self.during or self.within or 0.0) + EXPECT_SLACK

    def check_params(self) -> BaseModel:
        return registry.get(self.check).params.model_validate(self.model_extra or {})

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in (self.model_extra or {}).items())
        if self.during is not None:
            when = f"always during the next {self.during:g}s"
        elif self.within is not None:
            when = f"eventually within {self.within:g}s"
        else:
            when = "now"
        kind = "record finding" if self.finding else "expect"
        return f"{kind} {self.check}({params}) {when}"

    def compress(self, ts: float) -> Expect:
        """``during:`` scales, and so do the detection bounds (:data:`DETECTION_PARAMS`);
        ``within:`` stays (an upper bound, not a wait)."""
        update: dict = {}
        if self.during is not None:
            update["during"] = timescale.duration(self.during, ts)
        extra = dict(self.model_extra or {})
        for key in DETECTION_PARAMS:
            if extra.get(key) is not None:
                extra[key] = timescale.detection_bound(float(extra[key]), ts)
        copied = self.model_copy(update=update)
        copied.__pydantic_extra__ = extra
        return copied


class Workload(StepKind):
    """Keep triggering ``dag`` every ``every`` seconds until ``stop_workload`` (or the end);
    each run is named ``<name>-<n>`` and judged by ``no_task_lost`` like any other."""

    action: Literal["workload"] = "workload"
    name: str = Field(pattern=NAME)
    dag: str
    every: Duration = 10.0
    conf: dict[str, Any] = {}

    def bound(self) -> float:
        return 70.0  # the DAG must be parsed first (at most 60 s)

    def describe(self) -> str:
        return f"workload {self.name!r}: trigger {self.dag} every {self.every:g}s"


class StopWorkload(StepKind):
    action: Literal["stop_workload"] = "stop_workload"
    name: str

    def bound(self) -> float:
        return 30.0

    def describe(self) -> str:
        return f"stop workload {self.name!r}"


Step = Annotated[
    Trigger
    | Wait
    | FaultByKind
    | Heal
    | AddNode
    | Sleep
    | Expect
    | Upgrade
    | Migrate
    | WaitNode
    | Backup
    | Restore
    | SeedHistory
    | Workload
    | StopWorkload
    | RemoveNode
    | PushDags
    | Chaos,
    Field(discriminator="action"),
]
ACTIONS = (
    "trigger",
    "wait",
    "fault",
    "heal",
    "add_node",
    "sleep",
    "expect",
    "upgrade",
    "migrate",
    "wait_node",
    "backup",
    "restore",
    "seed_history",
    "workload",
    "stop_workload",
    "remove_node",
    "push_dags",
    "chaos",
)


ACTION_MODELS: dict[str, type[BaseModel]] = {
    "trigger": Trigger,
    "wait": Wait,
    "fault": Fault,
    "heal": Heal,
    "add_node": AddNode,
    "sleep": Sleep,
    "expect": Expect,
    "upgrade": Upgrade,
    "migrate": Migrate,
    "wait_node": WaitNode,
    "backup": Backup,
    "restore": Restore,
    "seed_history": SeedHistory,
    "workload": Workload,
    "stop_workload": StopWorkload,
    "remove_node": RemoveNode,
    "push_dags": PushDags,
    "chaos": Chaos,
}
