"""Checks (Jepsen's checkers): pure functions over a run's recorded history.

A check reads observations already in the history and returns a :class:`CheckResult`; it never
touches the cluster. What a check needs observed before it is evaluated (log objects, job rows)
is declared in its :class:`CheckSpec` and gathered by the engine. The registry maps the names
the scenario DSL uses to the function and the model of its parameters.
"""

from testbed.checks.registry import REGISTRY, CheckSpec, get
from testbed.checks.result import CheckResult
from testbed.checks.view import View

__all__ = ["REGISTRY", "CheckResult", "CheckSpec", "View", "get"]
