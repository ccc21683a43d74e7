"""One error hierarchy for the testbed, rooted in :class:`TestbedError`.

Every error carries the context a user needs to act (role, node, state, last log lines, a hint),
and renders as one actionable line in the CLI; nothing here is a bare traceback for the user.
"""

from __future__ import annotations


class TestbedError(Exception):
    """Root of every error the testbed raises on purpose."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def __str__(self) -> str:
        return self.one_line()


class DockerUnavailable(TestbedError):
    """No Docker engine answers."""


class ImageMissing(TestbedError):
    """An image the cluster needs has not been built."""


class ImageBuildError(TestbedError):
    """An image failed to build; carries the last lines of the build output."""

    def __init__(self, image: str, detail: str, *, tail: list[str] | None = None) -> None:
        self.image = image
        self.tail = tail or []
        super().__init__(
            f"building {image} failed: {detail}",
            hint="see the build log lines above; rerun `testbed images build -v` for all of them",
        )


class ExecTimeout(TestbedError):
    """A command run inside a container did not finish within its timeout."""

    def __init__(self, node: str, cmd: list[str], timeout: float) -> None:
        self.node, self.cmd, self.timeout = node, cmd, timeout
        super().__init__(f"`{' '.join(cmd)}` on {node} gave no answer within {timeout:g}s")


class ReadinessTimeout(TestbedError):
    """A role did not become ready in time; carries its state and its last log lines."""

    def __init__(
        self, role: str, waited_for: str, timeout: float, state: str, last_logs: list[str]
    ) -> None:
        self.role, self.waited_for, self.state, self.last_logs = role, waited_for, state, last_logs
        tail = "\n    ".join(last_logs[-15:]) or "(no output)"
        super().__init__(
            f"{role} not ready after {timeout:g}s waiting for {waited_for}; container is {state}."
            f"\n  last log lines of {role}:\n    {tail}",
            hint=f"`testbed logs {role}` shows everything",
        )


class ClusterError(TestbedError):
    """A cluster operation failed (boot, node lookup, teardown)."""


class FaultError(TestbedError):
    """A fault could not be injected or healed."""


class ScenarioError(TestbedError):
    """A scenario file or object is invalid; raised before anything boots. ``problems``: every
    problem found, one line each (the message may name only the first few)."""

    def __init__(
        self, message: str, *, hint: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or [self.one_line()]


class UpgradeFailed(TestbedError):
    """An upgrade action failed or ran out of time."""
