"""What a check returns: whether it held, why, and what it measured (e.g. detection delay)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    measurements: dict[str, Any] = field(default_factory=dict)
    # a failure no later look can turn (a task retried where adoption was due): a ``within``
    # wait ends at once instead of running out its time
    settled: bool = False

    @classmethod
    def passed(cls, detail: str, **measurements: Any) -> CheckResult:
        return cls(True, detail, measurements)

    @classmethod
    def failed(cls, detail: str, **measurements: Any) -> CheckResult:
        return cls(False, detail, measurements)

    @classmethod
    def failed_for_good(cls, detail: str, **measurements: Any) -> CheckResult:
        return cls(False, detail, measurements, settled=True)
