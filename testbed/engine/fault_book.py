"""The scenario's fault book: every fault it injected, kept by name until it is healed.

A :class:`FaultBook` injects a fault now, ``delay`` seconds later (a timer, while the next
steps run) or the moment its ``when`` condition holds (a watch, :mod:`testbed.engine.when`);
heals it after its ``for`` (another timer), at its heal step, or with all the others at the end
(:meth:`FaultBook.end`, each heal bounded by :data:`HEAL_BOUND`), then makes the heal audit
(:meth:`FaultBook.audit`); it resolves ``host_of:`` targets to the node a task instance ran on.
A delayed or conditional inject that never happens, or fails, is recorded as ``inject_failed``,
never raised into nowhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from testbed import faults, observe
from testbed.cluster import Cluster
from testbed.core import bounded
from testbed.engine.steps_bound import StepFailed
from testbed.engine.when import LogLine, ProbeAnswer, SchemaLeft, TaskState, Watch
from testbed.faults import kinds
from testbed.faults.registry import REGISTRY
from testbed.scenario.validate import HOST_OF
from testbed.scenario.when import When

FAULTS: dict[str, Callable[..., faults.Fault]] = kinds.FAULTS  # testbed.faults.registry
HEAL_BOUND = 240.0  # one fault's heal in finish(): a remove's heal boots the node (<= 180 s)
AUDIT_BOUND = 60.0


class FaultBook:
    """The faults by name, their delayed injects and their timers (``for``, delays)."""

    def __init__(
        self,
        cluster: Cluster,
        cancelled: threading.Event,
        runs: Callable[[], dict[str, tuple[str, str]]],
    ) -> None:
        """``runs``: the runner's triggered runs now (name -> (dag_id, run_id)), for
        ``host_of:`` targets."""
        self.cluster, self.history = cluster, cluster.history
        self.cancelled, self._runs = cancelled, runs
        self.faults: dict[str, faults.Fault] = {}
        self._timers: list[threading.Timer | Watch] = []
        # fault name -> its pending inject (a delay's timer, a condition's watch)
        self._delayed: dict[str, threading.Timer | Watch] = {}
        self._delay_lock = threading.Lock()  # a delayed inject vs. its heal step and the end

    def add(
        self,
        name: str,
        kind: str,
        target: str,
        duration: float | None,
        bound: float,
        delay: float | None,
        params: dict[str, Any],
        when: When | None = None,
    ) -> faults.Fault:
        """Make the fault (its target resolved) and inject it now (within ``bound`` s), after
        ``delay`` s in a timer, or once ``when`` holds (``delay`` s after it, if given; a
        ``host_of:`` target resolved then); heal it after ``duration`` s if given."""
        target = target if when else self.resolve(target, kind)
        fault = FAULTS[kind](self.cluster, target, name=name, **params)
        self.faults[name] = fault
        if when is not None:
            self._watch(fault, bound, duration, when, delay or 0.0)
        elif delay:
            timer = threading.Timer(delay, lambda: self._inject_late(fault, bound, duration))
            timer.daemon = True
            self._pending(name, timer)
        else:
            self._inject(fault, bound, duration)
        return fault

    def _pending(self, name: str, later: threading.Timer | Watch) -> None:
        with self._delay_lock:  # registered before it can fire
            self._delayed[name] = later
            self._timers.append(later)
        later.start()

    def _watch(
        self, fault: faults.Fault, bound: float, duration: float | None, when: When, delay: float
    ) -> None:
        """Inject once ``when`` holds (``delay`` s later): a :class:`Watch` thread; the record
        says what held and how long after it the fault went in."""
        cond = when.condition()
        check = _check(self.cluster, when, self._runs)

        def held(match: dict, seen: float) -> None:
            self.cancelled.wait(delay)  # the scenario ending cuts it short (the inject records it)
            self._inject_late(fault, bound, duration, (cond.describe(), match, seen))

        def timed_out(why: str) -> None:
            self._drop_delayed(fault.name, why)

        self._pending(fault.name, Watch(check, when.within, held, timed_out, fault.name))

    def _inject(self, fault: faults.Fault, bound: float, duration: float | None) -> None:
        bounded.call(fault.inject, bound, f"inject {fault.kind} on {fault.target}")
        if duration is not None:
            self._later(duration, fault.heal)

    def _inject_late(
        self, fault: faults.Fault, bound: float, duration: float | None, held: tuple = ()
    ) -> None:
        """A delayed inject, in its timer's thread (or a condition's, ``held`` = what held,
        the match, when it was seen), under the delay lock (a heal step or the end waits for
        an inject under way, so the inject never lands after its heal). One that does not
        happen, or fails, is recorded (and fails the verdict: the drill did not do what it
        says), never raised into nowhere."""
        with self._delay_lock:
            if self._delayed.pop(fault.name, None) is None:
                return  # dropped by a heal step or the end, which recorded it
            if self.cancelled.is_set():
                fault.record("inject_failed", error="never injected: the scenario was ending")
                return
            try:
                if held:
                    self._held(fault, *held)
                self._inject(fault, bound, duration)
            except Exception as exc:
                error = f"delayed inject: {type(exc).__name__}: {exc}"[:500]
                fault.record("inject_failed", error=error)

    def _held(self, fault: faults.Fault, condition: str, match: dict, seen: float) -> None:
        """A condition held: its record (``after_s``: from the look that saw it to the
        inject), and a ``host_of:`` target resolved now that the task has a node."""
        after = round(time.monotonic() - seen, 3)
        fault.record("condition_held", condition=condition, match=match, after_s=after)
        fault.target = self.resolve(fault.target, fault.kind)

    def _later(self, seconds: float, fn: Callable[[], object]) -> threading.Timer:
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        return timer

    def _drop_delayed(self, name: str, why: str) -> None:
        """A delayed inject that never happened: cancelled, and recorded as a failed inject."""
        with self._delay_lock:
            timer = self._delayed.pop(name, None)
        if timer is not None:
            timer.cancel()
            self.faults[name].record("inject_failed", error=f"never injected: {why}")

    def resolve(self, target: str, kind: str) -> str:
        """``host_of:RUN.TASK`` -> the node the task instance last ran on (a fault of a pod,
        ``kind`` pod_delete: the pod's role)."""
        if not target.startswith(HOST_OF):
            return target
        run, _, task = target.removeprefix(HOST_OF).partition(".")
        runs = self._runs()
        if run not in runs:
            raise StepFailed(f"{target}: run {run!r} was not triggered")
        dag_id, run_id = runs[run]
        host = None
        for ti in observe.task_instances(self.cluster, dag_id, run_id):
            v = ti.get("value") or {}
            if v.get("task_id") == task and v.get("hostname"):
                host = v["hostname"]
        pod = REGISTRY[kind].targets == "pod"
        if host:  # a pod's name on Kubernetes: its node's (or for a pod fault its role's)
            backend = self.cluster.backend
            host = (backend.role_of_host if pod else backend.node_of_host)(self.cluster, host)
        if pod and host and host not in self.cluster.topology.pods:
            raise StepFailed(f"{target}: the task runs in no Deployment's pod (its role: {host!r})")
        if host not in (self.cluster.topology.pods if pod else self.cluster.nodes):
            raise StepFailed(f"{target}: task has no node yet (hostname {host!r})")
        self.history.append("resolved", target=target, node=host)
        return host

    def heal(self, name: str, timeout: float) -> bool:
        """A heal step: its delayed inject dropped if still pending, the fault healed within
        ``timeout`` s."""
        self._drop_delayed(name, "its heal step came before it was due")
        fault = self.faults[name]
        return bounded.call(fault.heal, timeout, f"heal of {name} ({fault.kind})")

    def end(self) -> None:
        """The scenario's end: pending delayed injects dropped (recorded), timers cancelled
        (one under way is let finish, at most HEAL_BOUND s), then every fault healed."""
        for name in list(self._delayed):
            self._drop_delayed(name, "the scenario ended before it was due")
        for t in self._timers:
            t.cancel()
            t.join(HEAL_BOUND)
        self.heal_all()

    def heal_all(self) -> None:
        """Heal every fault, each bounded; then once more those that failed (a fault's heal may
        need another healed first, e.g. a link fault while Toxiproxy itself was frozen)."""
        stuck: set[str] = set()
        for _ in range(2):
            for fault in [f for f in self.faults.values() if f.injected]:
                if fault.name in stuck:
                    continue  # its heal is still under way in an abandoned thread
                try:
                    bounded.call(fault.heal, HEAL_BOUND, f"heal of {fault.name}")
                except bounded.NoAnswer as exc:  # heal() records its own errors; not a hang
                    stuck.add(fault.name)
                    fault.record("heal_failed", error=str(exc))

    def audit(self) -> list[str]:
        """The heal audit (is anything of a fault left?), within AUDIT_BOUND s; recorded as
        ``heal_audit`` and returned. One that could not be made is reported as such."""
        try:
            problems = bounded.call(
                lambda: faults.heal_audit(self.cluster), AUDIT_BOUND, "heal audit"
            )
        except Exception as exc:  # reported as what it is: the audit could not be made
            problems = [f"heal audit failed: {type(exc).__name__}: {exc}"]
        self.history.append("heal_audit", problems=problems)
        return problems


def _check(cluster, when: When, runs) -> LogLine | ProbeAnswer | SchemaLeft | TaskState:
    """What a watch asks for ``when``'s condition."""
    if when.log:
        return LogLine(cluster, when.log)
    if when.probe:
        return ProbeAnswer(cluster, when.probe)
    if when.schema_:
        return SchemaLeft(cluster, when.schema_)
    return TaskState(cluster, when.condition(), runs)
