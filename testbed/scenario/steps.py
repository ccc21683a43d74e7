"""The step models: ``trigger``, ``wait``, ``fault``, ``heal``, ``add_node``, ``remove_node``,
``sleep``, ``expect``, ``workload``, ``stop_workload``; the upgrade steps
(:mod:`testbed.scenario.steps_upgrade`) and ``chaos`` (:mod:`testbed.scenario.steps_chaos`)
live apart. ``Step`` is the union of all of them, told apart by ``action``; ``ACTIONS`` and
``ACTION_MODELS`` name them in that order (the order error messages list them in). Each model
says what it means (:class:`~testbed.scenario.base.StepKind`): its bound, its plan line
(``describe``) and its compressed form (``compress``)."""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from testbed import timescale
from testbed.checks import registry
from testbed.errors import TestbedError
from testbed.faults import registry as fault_registry
from testbed.scenario.base import (
    DEFAULT_BOUNDS,
    NAME,
    Bounded,
    StepKind,
    Strict,
    Version,
)
from testbed.scenario.steps_chaos import Chaos
from testbed.scenario.steps_upgrade import Backup, Migrate, Restore, Upgrade, WaitNode
from testbed.topology import K8S_PROCESSES
from testbed.values import ConfigKey, Duration, SignedDuration, nested_config, parse_duration

TI_STATES = ("queued", "running", "success", "failed", "up_for_retry", "scheduled")
FaultKind = Literal[fault_registry.KINDS]  # type: ignore[valid-type]
FAULT_PARAMS = fault_registry.FAULT_PARAMS  # which optional fields each fault kind takes
HEALED_BY_STEP = fault_registry.HEALED_BY_STEP  # no `for:`
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


def _problem(error: Any) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    loc = ".".join(map(str, error["loc"]))
    return f"{loc}: {msg}" if loc else msg


class DelayDraw(Strict):
    """A fault's delay drawn from a seed: uniform in ``between`` (the same seed, the same
    delay), e.g. "restart Redis at a seeded-random moment of the roll"."""

    between: tuple[Duration, Duration]
    seed: int

    @model_validator(mode="after")
    def _ordered(self) -> DelayDraw:
        if self.between[0] > self.between[1]:
            raise ValueError("'between' is [earliest, latest]; the first is the larger")
        return self

    def draw(self) -> float:
        return round(random.Random(self.seed).uniform(*self.between), 1)


class Fault(Bounded):
    action: Literal["fault"] = "fault"
    name: str = Field(pattern=NAME)
    kind: FaultKind
    target: str
    for_: Duration | None = Field(None, alias="for")
    mode: Literal["pause", "sigstop"] | None = None
    deadline: Duration | None = None
    peer: str | None = None
    toxic: Literal["latency", "stall", "timeout", "bandwidth", "reset_peer", "down"] | None = None
    attributes: dict[str, int] = {}
    # replace: the fresh node runs with these Airflow options (the heal restores the topology's)
    config: dict[ConfigKey, str | int | float | bool] | None = None
    # clock_skew: how far the node's clock is off, e.g. 10m, -10m, 600 (seconds)
    offset: SignedDuration | None = None
    # inject this long after the step, in the background while the next steps run (e.g. in
    # the middle of an `upgrade` step); a heal step before then fails the drill
    delay: float | DelayDraw | None = None
    # kill: the signal (default KILL); TERM to a Celery worker is its warm shutdown
    signal: Literal["KILL", "TERM", "INT", "QUIT", "HUP"] | None = None
    # pod_delete: seconds between SIGTERM and SIGKILL (0: at once); Kubernetes' default if absent
    grace: Duration | None = None
    # hang: SIGSTOP the named process inside the Kubernetes node (not the whole node)
    process: Literal[K8S_PROCESSES] | None = None  # type: ignore[valid-type]

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, value: Any) -> Any:
        """``20s`` or ``{between: [5s, 40s], seed: 7}``; one error message, not one per form."""
        if value is None or isinstance(value, DelayDraw):
            return value
        if isinstance(value, dict):
            try:
                return DelayDraw.model_validate(value)
            except ValidationError as exc:
                raise ValueError("; ".join(map(_problem, exc.errors()))) from None
        return parse_duration(value)

    @model_validator(mode="after")
    def _kind_params(self) -> Fault:
        allowed = FAULT_PARAMS.get(self.kind, set())
        fields = ("mode", "deadline", "peer", "toxic", "config", "offset", "signal", "grace")
        for field in (*fields, "process"):
            if getattr(self, field) is not None and field not in allowed:
                raise ValueError(f"{field!r} does not apply to a {self.kind} fault")
        if self.attributes and self.kind != "link":
            raise ValueError(f"'attributes' does not apply to a {self.kind} fault")
        if self.for_ is not None and self.kind in HEALED_BY_STEP:
            raise ValueError(f"'for' does not apply to a {self.kind} fault; heal it with a step")
        if self.grace is not None and self.grace != int(self.grace):
            raise ValueError("'grace' is whole seconds (Kubernetes' grace period), e.g. 0s, 30s")
        if self.process and self.mode == "pause":
            raise ValueError("'process' hangs one process (SIGSTOP): leave 'mode' out")
        if self.kind == "link" and self.toxic is None:
            raise ValueError("a link fault needs 'toxic' (latency, stall, timeout, bandwidth, ...)")
        if self.kind == "clock_skew" and (self.offset is None or abs(self.offset) < 1):
            raise ValueError("a clock_skew fault needs 'offset' of at least 1s (e.g. 10m, -10m)")
        if self.config is not None and not self.config:
            raise ValueError("'config' is empty; give the Airflow options the node runs with")
        if self.config:  # a timer is scaled by the timescale: it must be seconds
            try:
                timescale.check_timers(nested_config(self.config))
            except TestbedError as exc:
                raise ValueError(str(exc)) from None
        return self

    def bound(self) -> float:
        if self.timeout is None and self.deadline is not None:  # a stop waits its deadline
            return self.deadline + DEFAULT_BOUNDS["fault"]
        return super().bound()

    def delay_seconds(self) -> float | None:
        return self.delay.draw() if isinstance(self.delay, DelayDraw) else self.delay

    def params(self) -> dict[str, Any]:
        p = {k: getattr(self, k) for k in FAULT_PARAMS.get(self.kind, ()) if k != "attributes"}
        p = {k: v for k, v in p.items() if v is not None}
        return {**p, **self.attributes}

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params().items())
        scope = f" for {self.for_:g}s" if self.for_ is not None else " until healed"
        return (
            f"fault {self.name!r}: {self.kind} {self.target}"
            + (f" ({params})" if params else "")
            + scope
            + self._describe_delay()
        )

    def _describe_delay(self) -> str:
        seconds = self.delay_seconds()
        if seconds is None:
            return ""
        drawn = ""
        if isinstance(self.delay, DelayDraw):
            lo, hi = self.delay.between
            drawn = f", drawn from seed {self.delay.seed} in [{lo:g}s, {hi:g}s]"
        return f"; injected {seconds:g}s later in the background{drawn}"

    def compress(self, ts: float) -> Fault:
        """``for:`` scales; ``delay:`` stays (it places the fault in work no timer paces)."""
        if self.for_ is None:
            return self
        return self.model_copy(update={"for_": timescale.duration(self.for_, ts)})


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
    | Fault
    | Heal
    | AddNode
    | Sleep
    | Expect
    | Upgrade
    | Migrate
    | WaitNode
    | Backup
    | Restore
    | Workload
    | StopWorkload
    | RemoveNode
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
    "workload",
    "stop_workload",
    "remove_node",
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
    "workload": Workload,
    "stop_workload": StopWorkload,
    "remove_node": RemoveNode,
    "chaos": Chaos,
}
