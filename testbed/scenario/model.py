"""The scenario model: one validated data structure behind both front-ends (YAML and Python).

A scenario is a topology (workers, Airflow version, config overrides) and ordered steps:
``trigger`` a DAG run, ``wait`` for a state, inject a ``fault`` (for a duration or until a later
``heal``), ``expect`` a check eventually ``within`` T or ``always during`` a window, ``heal``,
``add_node``, ``sleep``; or one ``chaos`` step (seeded random faults under a workload, drawn by
:mod:`testbed.chaos` and expanded into those plain steps when the scenario is validated).
Validation is strict: unknown keys, bad durations, unknown checks,
roles, links, DAGs and names are rejected before anything boots.
"""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from testbed import timescale
from testbed.chaos import generate
from testbed.chaos.expand import Schedule, scenario_data
from testbed.chaos.generate import KINDS as CHAOS_KINDS
from testbed.checks import registry
from testbed.errors import TestbedError
from testbed.faults import registry as fault_registry
from testbed.images.catalog import AIRFLOW_VERSIONS, DEFAULT_AIRFLOW_VERSION
from testbed.scenario.durations import Duration, SignedDuration, parse_duration
from testbed.topology import BACKENDS, EXECUTORS, K8S_PROCESSES, Topology

NAME = r"^[A-Za-z][A-Za-z0-9_.-]*$"
TI_STATES = ("queued", "running", "success", "failed", "up_for_retry", "scheduled")
FaultKind = Literal[fault_registry.KINDS]  # type: ignore[valid-type]
FAULT_PARAMS = fault_registry.FAULT_PARAMS  # which optional fields each fault kind takes
HEALED_BY_STEP = fault_registry.HEALED_BY_STEP  # no `for:`


ConfigKey = Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")]  # section.key


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _nested(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{"section.key": value} -> {"section": {"key": "value"}} (Airflow options)."""
    nested: dict[str, dict[str, str]] = {}
    for dotted, value in config.items():
        section, key = dotted.split(".", 1)
        nested.setdefault(section, {})[key] = str(value)
    return nested


class TopologySpec(Strict):
    workers: int = Field(2, ge=1, le=8)
    airflow_version: Literal[tuple(AIRFLOW_VERSIONS)] = DEFAULT_AIRFLOW_VERSION  # type: ignore[valid-type]
    config: dict[ConfigKey, str | int | float | bool] = {}
    kerberos: bool = False  # a KDC, a ticket-refresher sidecar per worker, a kerberized Postgres
    # The user's own workload: a DAG folder (relative to the scenario file) used instead of the
    # testbed's, and extra packages (PEP 508 lines, or a requirements file's path) installed
    # into an image derived from the Airflow one.
    dags: str | None = None
    requirements: list[str] | str = []
    # Compressed time: every Airflow timer the drill depends on, and the scenario's own waits,
    # scaled by this factor (see testbed/timescale.py); TESTBED_TIMESCALE overrides it.
    timescale: float = Field(1.0, ge=0.2, le=1.0)
    # more than one api-server (one DNS name for all): the guide's zero-downtime rolling upgrade
    api_servers: int = Field(1, ge=1, le=3)
    # where the Airflow roles run: containers, or pods of a Kubernetes node (testbed.k8s)
    backend: Literal[BACKENDS] = "docker"  # type: ignore[valid-type]
    executor: Literal["CeleryExecutor", "KubernetesExecutor"] | None = None
    k8s_nodes: int = Field(1, ge=1, le=3)  # backend kubernetes: 2-3 puts task pods on their own

    def build(self) -> Topology:
        nested = _nested(self.config)
        reqs = self.requirements
        return Topology(
            self.workers,
            self.airflow_version,
            nested,
            kerberos=self.kerberos,
            dags=self.dags,
            requirements=tuple(reqs if isinstance(reqs, list) else [reqs]),
            timescale=timescale.from_env(self.timescale),
            api_servers=self.api_servers,
            backend=self.backend,
            executor=self.executor or EXECUTORS[self.backend][0],
            k8s_nodes=self.k8s_nodes,
        )


# Every step has a bound: the main thread waits at most that (plus a few seconds' grace) for
# it, whatever the cluster does. ``wait`` has ``timeout``, ``expect`` its window, ``sleep`` its
# length; the other actions take an optional ``timeout`` with these defaults (seconds).
DEFAULT_BOUNDS = {
    "trigger": 120.0,
    "fault": 60.0,
    "heal": 240.0,  # healing a remove or replace boots the node again
    "add_node": 240.0,
    "upgrade": 900.0,
    "migrate": 300.0,
    "backup": 120.0,
    "restore": 120.0,
    "remove_node": 60.0,
}
Version = Literal[tuple(AIRFLOW_VERSIONS)]  # type: ignore[valid-type]
EXPECT_SLACK = 15.0  # one last round of on-demand probes after an expectation's window


class Bounded(Strict):
    """A step with an optional ``timeout`` (its bound)."""

    timeout: Duration | None = None

    def bound(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_BOUNDS[self.action]


class Trigger(Bounded):
    action: Literal["trigger"] = "trigger"
    name: str = Field(pattern=NAME)
    dag: str
    conf: dict[str, Any] = {}


class Wait(Strict):
    action: Literal["wait"] = "wait"
    run: str
    task: str | None = None
    state: Literal[TI_STATES] = "success"  # type: ignore[valid-type]
    timeout: Duration = 120.0

    def bound(self) -> float:
        return self.timeout


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
                timescale.check_timers(_nested(self.config))
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


class Heal(Bounded):
    action: Literal["heal"] = "heal"
    fault: str


class AddNode(Bounded):
    """One more node (e.g. ``scheduler-2``), of ``version`` if given (e.g. a newer scheduler
    against an older schema); ``wait: false`` does not wait for it to be ready."""

    action: Literal["add_node"] = "add_node"
    node: str
    version: Version | None = None
    wait: bool = True


class RemoveNode(Bounded):
    """Remove a node added earlier (its container and disk), e.g. a refused ``scheduler-2``."""

    action: Literal["remove_node"] = "remove_node"
    node: str


class Sleep(Strict):
    action: Literal["sleep"] = "sleep"
    seconds: Duration

    def bound(self) -> float:
        return self.seconds


class Expect(Strict):
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


class Upgrade(Bounded):
    """The guide's upgrade of ``nodes`` (default: every Airflow node) to ``to``, as
    ``testbed upgrade-plan`` prints it: rolling when both versions share a schema head, else the
    downtime window (drain, stop, backup, migrate, check, start). ``strategy: rolling`` refuses
    the downtime path (the step fails, saying why)."""

    action: Literal["upgrade"] = "upgrade"
    to: Version
    nodes: list[str] | None = None
    strategy: Literal["auto", "rolling"] = "auto"
    drain_timeout: Duration = 180.0
    # a downgrade across a schema change: restore the backup the upgrade took, or `airflow db
    # downgrade` run by the newer image
    rollback: Literal["restore", "downgrade"] = "restore"


class Migrate(Bounded):
    """``airflow db migrate`` of version ``to`` as the one-shot node ``name`` (a fault target
    while it runs); ``wait: false`` goes on at once (see ``wait_node``)."""

    action: Literal["migrate"] = "migrate"
    to: Version
    name: str = Field("migrate", pattern=r"^migrate(-\d+)?$")
    wait: bool = True


class WaitNode(Strict):
    action: Literal["wait_node"] = "wait_node"
    node: str
    state: Literal["exited", "running", "ready"] = "exited"
    timeout: Duration = 120.0

    def bound(self) -> float:
        return self.timeout


class Backup(Bounded):
    """``pg_dump`` of the metadata database, kept in the Postgres node as ``name``."""

    action: Literal["backup"] = "backup"
    name: str = Field("before", pattern=NAME)


class Restore(Bounded):
    """The metadata database replaced by backup ``name`` (stop the Airflow nodes first)."""

    action: Literal["restore"] = "restore"
    name: str = Field("before", pattern=NAME)


class Workload(Strict):
    """Keep triggering ``dag`` every ``every`` seconds until ``stop_workload`` (or the end);
    each run is named ``<name>-<n>`` and judged by ``no_task_lost`` like any other."""

    action: Literal["workload"] = "workload"
    name: str = Field(pattern=NAME)
    dag: str
    every: Duration = 10.0
    conf: dict[str, Any] = {}

    def bound(self) -> float:
        return 70.0  # the DAG must be parsed first (at most 60 s)


class StopWorkload(Strict):
    action: Literal["stop_workload"] = "stop_workload"
    name: str

    def bound(self) -> float:
        return 30.0


ChaosKind = Literal[CHAOS_KINDS]  # type: ignore[valid-type]


class Chaos(Strict):
    """Seeded random chaos: faults drawn from ``seed`` (kind, target, how long, the quiet gap
    before it) over ``duration`` while ``workload`` (``DAG[:every]``, or null) keeps triggering
    runs; then every run must end, logs be in MinIO, health recover (see
    :mod:`testbed.chaos.schedule` for the invariants; ``expect`` adds more). It is a whole
    scenario: the only step. Validation draws the schedule and puts the plain steps in its
    place (``testbed run --dry-run`` prints them); the same seed draws the same schedule."""

    action: Literal["chaos"] = "chaos"
    seed: int
    duration: Duration = 600.0
    faults: list[ChaosKind] = ["hang", "kill", "restart", "link"]
    targets: list[str] | None = None  # nodes and links; default: testbed.chaos.generate
    workload: str | None = "many_tasks:10s"
    min_fault: Duration = Field(5.0, ge=1)
    max_fault: Duration = 30.0
    min_gap: Duration = 5.0
    max_gap: Duration = 20.0
    settle: Duration = 240.0  # after the last heal: how long runs may take to end
    expect: list[dict[str, Any]] = []  # more invariants, as expect steps' fields

    def bound(self) -> float:
        return self.duration

    def draw(self, topology: TopologySpec) -> Schedule:
        """Draw the schedule this step asks for on ``topology`` (raises ChaosError)."""
        topo = topology.build()
        targets = (
            generate.check_targets(self.targets, topo)
            if self.targets
            else generate.default_targets(topo)
        )
        ranges = generate.Ranges(self.min_fault, self.max_fault, self.min_gap, self.max_gap)
        faults = generate.draw(self.seed, self.duration, list(self.faults), targets, topo, ranges)
        asked = {
            "faults": list(self.faults),
            "targets": self.targets,
            "ranges": ranges.__dict__,
            "workload": self.workload,
        }
        return Schedule(
            seed=self.seed,
            duration=self.duration,
            faults=faults,
            workload=generate.parse_workload(self.workload),
            settle=self.settle,
            expect=tuple(self.expect),
            asked=asked,
            topology=topology.model_dump(mode="json"),
        )


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


class Scenario(Strict):
    """A topology and ordered steps; see the module docstring."""

    name: str = Field(pattern=NAME)
    description: str = ""
    topology: TopologySpec = TopologySpec()
    steps: list[Step] = Field(min_length=1)
    timeout: Duration = 900.0  # no step starts later than this (each step has its own bound)
    _chaos: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def chaos_schedules(self) -> list[dict[str, Any]]:
        """The chaos schedules (JSON) these steps were drawn from; recorded before step 0."""
        return self._chaos

    def attach_schedule(self, schedule: dict[str, Any]) -> Scenario:
        self._chaos = [schedule]
        return self

    def versions(self) -> set[str]:
        """Every Airflow version the scenario runs (its images must be built)."""
        wanted = {self.topology.airflow_version}
        wanted |= {s.to for s in self.steps if isinstance(s, Upgrade | Migrate)}
        return wanted | {s.version for s in self.steps if isinstance(s, AddNode) and s.version}

    @model_validator(mode="before")
    @classmethod
    def _step_shorthand(cls, data: Any) -> Any:
        """YAML form: each step is ``{action: {fields}}`` (or ``{heal: name}`` etc.)."""
        if isinstance(data, dict) and isinstance(data.get("steps"), list):
            steps = []
            for i, step in enumerate(data["steps"]):
                try:
                    steps.append(_unwrap(step))
                except ValueError as exc:
                    raise ValueError(f"steps.{i}: {exc}") from None
            data = {**data, "steps": steps}
        return data

    @model_validator(mode="after")
    def _expand_chaos(self) -> Scenario:
        """A ``chaos`` step: draw its schedule and run the plain steps it stands for."""
        chaos = [s for s in self.steps if isinstance(s, Chaos)]
        if not chaos:
            return self
        if len(self.steps) != 1:
            raise ValueError(
                "a chaos step is the whole scenario: make it the only step "
                "(add invariants with its 'expect' list)"
            )
        if self.topology.backend == "kubernetes":
            raise ValueError("a chaos step is not built for backend kubernetes yet")
        try:
            drawn = chaos[0].draw(self.topology)
            expanded = Scenario.model_validate(scenario_data(drawn, self.name))
        except TestbedError as exc:  # a ValueError: the loader names the file and the step
            raise ValueError(f"chaos: {exc.one_line()}") from None
        self.steps = expanded.steps
        if "timeout" not in self.model_fields_set:
            self.timeout = max(self.timeout, expanded.timeout)
        return self.attach_schedule(drawn.to_json())


SCALAR_FIELD = {
    "heal": "fault",
    "add_node": "node",
    "sleep": "seconds",
    "backup": "name",
    "restore": "name",
    "stop_workload": "name",
    "remove_node": "node",
}


def _unwrap(step: Any) -> Any:
    if not isinstance(step, dict) or "action" in step:
        return step
    if len(step) != 1:
        raise ValueError(
            f"a step is one mapping {{action: fields}}; got keys {', '.join(map(str, step))}; "
            f"actions: {', '.join(ACTIONS)}"
        )
    ((action, body),) = step.items()
    if action not in ACTIONS:
        raise ValueError(f"unknown step action {action!r}; allowed: {', '.join(ACTIONS)}")
    if not isinstance(body, dict):
        if action not in SCALAR_FIELD:
            raise ValueError(f"step {action!r} takes a mapping of fields")
        body = {SCALAR_FIELD[action]: body}
    return {"action": action, **body}


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


def allowed_fields(loc: tuple) -> list[str]:
    """The field names allowed where a validation error points (for "unknown field")."""
    if loc and loc[0] == "steps" and len(loc) >= 3 and loc[2] in ACTION_MODELS:
        model: type[BaseModel] = ACTION_MODELS[loc[2]]
    elif loc and loc[0] == "topology":
        model = TopologySpec
    elif len(loc) == 1:
        model = Scenario
    else:
        return []
    return [f.alias or name for name, f in model.model_fields.items() if name != "action"]
