"""The configuration check: the values Airflow itself reads on a node are the overrides the
scenario asked for (proof that the env-based configuration reached the process)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from testbed.checks.result import CheckResult
from testbed.checks.view import View


class ConfigParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected: dict[str, str]  # section.key -> value
    target: str = "scheduler"


def config_in_force(view: View, p: ConfigParams) -> CheckResult:
    """The latest config observation on the node shows every expected value."""
    seen = view.observations("config", p.target)
    if not seen:
        return CheckResult.failed(f"the configuration of {p.target} was never read")
    last = seen[-1]
    if last.get("error"):
        return CheckResult.failed(f"reading the configuration failed: {last['error']}")
    actual = last.get("value") or {}
    wrong = {k: actual.get(k) for k, v in p.expected.items() if str(actual.get(k)) != str(v)}
    if wrong:
        return CheckResult.failed(
            "not in force: "
            + ", ".join(f"{k}={v!r} (wanted {p.expected[k]!r})" for k, v in wrong.items()),
            actual=actual,
        )
    return CheckResult.passed(
        f"{len(p.expected)} override(s) in force on {p.target}", actual=actual
    )
