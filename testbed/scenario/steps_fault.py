"""The ``fault`` step: one model per fault kind, validated as a union told apart by ``kind``.

Each kind's model is built from its entry in the fault registry
(:data:`testbed.faults.registry.REGISTRY`): the fields every fault has (:class:`Fault`: name,
kind, target, ``for``, ``delay``, ``when``, ``timeout``) and the kind's own parameters (its
``params`` model, :mod:`testbed.faults.params`), so a kind takes exactly its own fields, with
their types and checks, and a field of another kind is refused naming the kind and what it
takes.

``Fault(kind="hang", ...)`` (and ``Fault.model_validate``) builds the model of that kind;
:data:`FAULT_MODELS` are the models by kind and :data:`FaultByKind` the union a scenario's
steps validate against. The engine reads a step's common fields and ``params()`` (the fault
class's keyword arguments).
"""

from __future__ import annotations

import random
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from testbed import timescale
from testbed.core.values import Duration, parse_duration
from testbed.faults import registry as fault_registry
from testbed.faults.registry import KINDS, REGISTRY, FaultSpec
from testbed.scenario.base import DEFAULT_BOUNDS, NAME, Bounded, Strict
from testbed.scenario.when import When

FaultKind = Literal[KINDS]  # type: ignore[valid-type]
FAULT_PARAMS = fault_registry.FAULT_PARAMS  # which fields of its own each fault kind takes
HEALED_BY_STEP = fault_registry.HEALED_BY_STEP  # no `for:`
# every kind's parameters: a field of one of these that a kind does not take "does not apply"
ALL_PARAMS = {name for spec in REGISTRY.values() for name in spec.params.model_fields}


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


class _ByKind(type(BaseModel)):  # type: ignore[misc]
    """``Fault(kind="hang", ...)`` builds the hang fault's model (the kind's own class)."""

    def __call__(cls, *args: Any, **data: Any) -> Any:
        if cls is Fault:
            member = FAULT_MODELS.get(data.get("kind"))  # type: ignore[arg-type]
            return member(*args, **data) if member else FAULT_ADAPTER.validate_python(data)
        return super().__call__(*args, **data)


class Fault(Bounded, metaclass=_ByKind):
    """What every fault step has and does. Each kind's model derives from its parameter model
    and this, so it has the kind's fields and the parameter model's methods (``sends_term``,
    ``inject_wait``, :class:`testbed.faults.params.Params`)."""

    action: Literal["fault"] = "fault"
    name: str = Field(pattern=NAME)
    kind: FaultKind
    target: str
    for_: Duration | None = Field(None, alias="for")
    # inject this long after the step, in the background while the next steps run (e.g. in
    # the middle of an `upgrade` step); a heal step before then fails the drill
    delay: float | DelayDraw | None = None
    # or inject the moment a condition holds (a task instance's state, a log line), in the
    # background like a delay (testbed.scenario.when)
    when: When | None = None
    spec: ClassVar[FaultSpec]  # the kind's registry entry (on each kind's model)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:
        """On :class:`Fault` itself: the model of ``obj``'s kind."""
        if cls is Fault:
            return FAULT_ADAPTER.validate_python(obj, **kwargs)
        return super().model_validate(obj, **kwargs)

    @classmethod
    def common(cls) -> list[str]:
        """The fields a fault of this kind takes besides its parameters (no ``for`` on a kind a
        heal step heals)."""
        names = [f.alias or n for n, f in Fault.model_fields.items() if n != "action"]
        names.sort(key=lambda n: n == "timeout")  # last, as in the docs
        return [n for n in names if not (n == "for" and cls.spec.healed_by_step)]

    @classmethod
    def takes(cls) -> str:
        """What this kind takes, for messages."""
        own = ", ".join(cls.spec.params.model_fields) or "no parameters"
        return f"a {cls.spec.kind} fault takes {own} (and {', '.join(cls.common())})"

    @model_validator(mode="before")
    @classmethod
    def _only_its_params(cls, data: Any) -> Any:
        """Another kind's parameter is refused naming this kind and what it takes; left empty
        (null, ``{}``: not given, as when every fault had every field) it is dropped."""
        if not isinstance(data, dict) or cls is Fault:
            return data
        foreign = [k for k in data if k in ALL_PARAMS and k not in cls.spec.params.model_fields]
        for key in foreign:
            if data[key] is not None and data[key] != {}:
                raise ValueError(
                    f"{key!r} does not apply to a {cls.spec.kind} fault; {cls.takes()}"
                )
        return {k: v for k, v in data.items() if k not in foreign}

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
    def _healed_by_step(self) -> Fault:
        if self.for_ is not None and self.spec.healed_by_step:
            raise ValueError(f"'for' does not apply to a {self.kind} fault; heal it with a step")
        return self

    def bound(self) -> float:
        wait = self.inject_wait()  # type: ignore[attr-defined]
        if self.timeout is None and wait is not None:  # e.g. a stop waits its deadline
            return wait + DEFAULT_BOUNDS["fault"]
        return super().bound()

    def delay_seconds(self) -> float | None:
        return self.delay.draw() if isinstance(self.delay, DelayDraw) else self.delay

    def params(self) -> dict[str, Any]:
        """The fault class's keyword arguments (testbed.faults.kinds): the parameters given."""
        return self.spec.params.kwargs(self)

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
        if self.when is not None:
            later = f", {seconds:g}s after it held" if seconds else ""
            return self.when.describe() + later
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


def fault_model(spec: FaultSpec) -> type[Fault]:
    """The ``fault`` step of one kind: every fault's fields and the kind's parameters."""
    name = "".join(part.title() for part in spec.kind.split("_")) + "Fault"
    model = create_model(
        name,
        __base__=(spec.params, Fault),
        __module__=__name__,
        __doc__=spec.doc,
        kind=(Literal[spec.kind], ...),
    )
    model.spec = spec
    return model


FAULT_MODELS: dict[str, type[Fault]] = {kind: fault_model(spec) for kind, spec in REGISTRY.items()}
# each by its name here too: pickle finds a class by module and name (a parallel run sends the
# scenarios to its worker processes)
globals().update({model.__name__: model for model in FAULT_MODELS.values()})
FaultByKind = Annotated[Union[tuple(FAULT_MODELS.values())], Field(discriminator="kind")]  # noqa: UP007
FAULT_ADAPTER: TypeAdapter[Fault] = TypeAdapter(FaultByKind, config=ConfigDict(title="Fault"))
