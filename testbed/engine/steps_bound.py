"""Bounded step execution: each step runs in its own thread inside a recorded step scope, and the
calling (main) thread waits at most the step's bound plus :data:`GRACE`.

:class:`BoundSteps` carries a step out (:meth:`BoundSteps.run`); a step past its bound is failed
with what it was waiting for (:func:`testbed.core.bounded.pending`) and raised as
:class:`StepOverrun`. :class:`StepScope` records a step's ``step`` start and end events (with its
error, if any), and a late end of a step the main thread already gave up on.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from testbed.autodiagnose import AutoDiagnose
from testbed.core import bounded
from testbed.core.errors import TestbedError
from testbed.core.history import History

GRACE = 5.0  # how far past its bound a step may run before the main thread gives up on it
_STEP_IDS = itertools.count(1)


class StepFailed(TestbedError):
    """A wait step timed out or an action could not be carried out."""


class StepOverrun(StepFailed):
    """A step did not end within its bound (plus grace); the main thread moved on."""


class BoundSteps:
    """The steps of one scenario: their index, the scope of the one under way, its thread."""

    def __init__(
        self, history: History, cancelled: threading.Event, autodiag: AutoDiagnose
    ) -> None:
        self.history, self.cancelled, self.autodiag = history, cancelled, autodiag
        self.index = 0  # the next step's index
        self.scope: StepScope | None = None
        self.bound: float | None = None  # recorded in the next step's start event
        self.thread: threading.Thread | None = None  # set while a step runs (or overran)

    def step(self, action: str, name: str | None = None, **fields: Any) -> StepScope:
        """The scope a step verb runs its body in: ``with steps.step("wait", run, ...):``."""
        return StepScope(self, action, name, fields)

    def run(self, body: Callable[[], Any], bound: float, why: str | None = None) -> Any:
        """Carry out one step (``body`` opens its own step scope) in a thread; wait at most
        ``bound`` + GRACE seconds. Past that, fail the step with what it was waiting for and
        raise StepOverrun: the main thread never waits on a stuck call. Ctrl-C (raised here,
        in the main thread) cancels the step."""
        box: dict[str, Any] = {}
        done = threading.Event()
        self.bound = bound  # recorded in the step's start event

        def target() -> None:
            try:
                box["value"] = body()
            except BaseException as exc:  # handed to the main thread below
                box["error"] = exc
            finally:
                done.set()

        name = f"testbed-step-{next(_STEP_IDS)}"  # its calls are told apart from older ones
        self.thread = threading.Thread(target=target, daemon=True, name=name)
        self.thread.start()
        try:
            finished = done.wait(bound + GRACE)
        except BaseException:  # Ctrl-C: the step's loops stop at their next look
            self.cancelled.set()
            raise
        if not finished:
            self.cancelled.set()
            overrun = self._overrun(why or f"its bound of {bound:g}s")
            self._diagnose(overrun)
            raise overrun
        self.thread = None
        if "error" in box:
            self._diagnose(box["error"])
            raise box["error"]
        return box.get("value")

    def join_overrun(self, timeout: float) -> None:
        """Let an overrun step's thread end (at most ``timeout`` s) before the faults heal."""
        if self.thread is not None:
            self.thread.join(timeout)

    def _diagnose(self, error: BaseException) -> None:
        if isinstance(error, Exception):  # not Ctrl-C: nobody waits for evidence then
            self.autodiag.request("scheduler", f"step {self.index - 1} failed: {error}"[:300])

    def _overrun(self, why: str) -> StepOverrun:
        step = self.thread.name if self.thread else None
        waiting = bounded.pending(owner=step) or bounded.pending()
        error = f"step did not end within {why} (+{GRACE:g}s grace)"
        error += f"; waiting for: {'; '.join(waiting)}" if waiting else "; no call was pending"
        if self.scope is not None:
            self.scope.abandon(error)
        return StepOverrun(error)


class StepScope:
    """Records a step's start and end (with its error, if any) around its body. A step the
    main thread gave up on (:meth:`abandon`) gets its end event then; when its body returns
    later, that is recorded as ``phase="late"``."""

    def __init__(self, steps: BoundSteps, action: str, name: str | None, fields: dict) -> None:
        self.steps, self.action, self.name, self.fields = steps, action, name, fields
        self._lock = threading.Lock()
        self._ended = False

    def __enter__(self) -> StepScope:
        s = self.steps
        self.index = s.index
        s.scope = self
        fields = {"bound": s.bound, **self.fields}
        s.history.append(
            "step", phase="start", index=self.index, action=self.action, name=self.name, **fields
        )
        return self

    def _end(self, phase: str, error: str | None) -> None:
        self.steps.history.append(
            "step", phase=phase, index=self.index, action=self.action, name=self.name, error=error
        )

    def abandon(self, error: str) -> None:
        with self._lock:
            if not self._ended:
                self._ended = True
                self._end("end", error)
                self.steps.index = self.index + 1

    def __exit__(self, exc_type, exc, tb) -> None:
        error = None if exc is None else str(exc)
        with self._lock:
            if self._ended:  # the main thread already ended it
                self._end("late", error)
                return
            self._ended = True
            self._end("end", error)
            self.steps.index = self.index + 1
