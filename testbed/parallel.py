"""Drills side by side: ``clusters`` worker processes, each with its own cluster pool, take
scenarios in order (a free worker takes the next), so a pack of drills that mostly wait on
Airflow's timers shares the machine's cores. Boots and resets take turns (one at a time): the
first cluster drills while the second boots, and every boot after the run's first is at a low
CPU weight, so a drill beside it keeps its timing (the boot takes the CPU the drill leaves
idle); resets are not weighted.

Processes, not threads: the executor bounds every step from its process's main thread, and
each cluster's observers, faults and Ctrl-C handling are per process. The workers run in
process groups of their own, so a terminal's Ctrl-C reaches only this process, which passes
each SIGINT (SIGTERM) on to every worker exactly once: each heals, writes its partial verdict
and removes its cluster, as a serial run does (a second Ctrl-C skips the healing). A worker
whose parent dies gets SIGTERM (Linux) and does the same. Each worker's output lines carry its
tag (``[c1]``, ``[c2]``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testbed.cluster import BOOT_WEIGHT
from testbed.core import progress
from testbed.core.errors import TestbedError
from testbed.scenario.verdict import Verdict

POLL = 1.0  # seconds between checks that the workers are alive while waiting for a result
BOOT_TURN = 300.0  # seconds a worker waits for another's boot or reset before its own
JOIN = 120.0  # seconds a worker that said it is done gets to exit before it is killed
INTERRUPTED = "interrupted before a verdict"  # e.g. Ctrl-C while its cluster booted
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Outcome:
    """What one scenario ended in: a verdict (possibly partial) or the error that stopped it
    before one was written (e.g. its cluster could not boot; ``fatal``: no cluster can)."""

    index: int
    name: str
    worker: int
    verdict: Verdict | None = None
    folder: Path | None = None
    error: str | None = None
    fatal: bool = False

    @property
    def interrupted(self) -> bool:
        return self.error == INTERRUPTED or bool(self.verdict and self.verdict.interrupted)

    @property
    def stops_worker(self) -> bool:
        return self.fatal or self.interrupted


@dataclass
class Result:
    outcomes: list[Outcome]
    resets: list[float] = field(default_factory=list)
    interrupted: bool = False


def run_parallel(
    scenarios: list, clusters: int, on_outcome: Callable[[Outcome], None] | None = None
) -> Result:
    """Run ``scenarios`` on ``clusters`` clusters at once; outcomes in the scenarios' order."""
    ctx = mp.get_context("spawn")
    results, turn, next_index = ctx.Queue(), ctx.Lock(), ctx.Value("i", 0)
    workers = [
        ctx.Process(
            target=_worker, args=(n, scenarios, next_index, turn, results), name=f"testbed-c{n}"
        )
        for n in range(1, min(clusters, len(scenarios)) + 1)
    ]
    result = Result(outcomes=[])
    with _forward_signals(workers, result):
        # a signal while they start waits (spawn keeps the mask) until each has its own handlers
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            for w in workers:
                w.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        _collect(scenarios, workers, results, on_outcome or (lambda _o: None), result)
    return result


@contextmanager
def _forward_signals(workers, result: Result) -> Iterator[None]:
    """Pass each SIGINT/SIGTERM this process gets on to every worker (a signal this process
    was started ignoring stays ignored, as in a serial run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum, _frame) -> None:
        result.interrupted = True
        for w in workers:
            if w.is_alive() and w.pid:
                os.kill(w.pid, signum)

    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, forward)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _collect(scenarios, workers, results, on_outcome, result: Result) -> None:
    """Gather outcomes until every worker is done; a worker that died mid-scenario (killed,
    out of memory) leaves that scenario an error, not a wait forever."""
    outcomes: dict[int, Outcome] = {}
    running: dict[int, int] = {}  # worker -> index of the scenario it runs
    done: set[int] = set()
    warned = False
    try:
        while len(done) < len(workers):
            if result.interrupted and not warned:
                warned = True
                progress.warn("interrupted: each cluster heals, writes its verdict and is removed")
            try:
                msg = results.get(timeout=POLL)
            except queue.Empty:
                _reap(workers, done, running, scenarios, outcomes, on_outcome, results)
                continue
            _take(msg, scenarios, running, outcomes, done, result, on_outcome)
    finally:
        _join(workers)
        result.outcomes = [outcomes[i] for i in sorted(outcomes)]


def _take(msg, scenarios, running, outcomes, done, result: Result, on_outcome) -> None:
    kind, worker = msg[0], msg[1]
    if kind == "start":
        running[worker] = msg[2]
    elif kind == "outcome":
        running.pop(worker, None)
        _record(msg[2], outcomes, on_outcome)
        if msg[2].interrupted:
            result.interrupted = True
    elif kind == "done":
        done.add(worker)
        result.resets += msg[2]
        _lost(worker, running, scenarios, outcomes, on_outcome, "ended without its verdict")


def _record(outcome: Outcome, outcomes: dict[int, Outcome], on_outcome) -> None:
    outcomes[outcome.index] = outcome
    try:
        on_outcome(outcome)
    except Exception as exc:  # a caller's display must not leave the workers unwatched
        progress.warn(f"could not show the outcome of {outcome.name}: {exc}")


def _lost(n: int, running, scenarios, outcomes, on_outcome, how: str) -> None:
    index = running.pop(n, None)
    if index is not None and index not in outcomes:
        _record(
            Outcome(index, scenarios[index].name, n, error=f"worker c{n} {how}"),
            outcomes,
            on_outcome,
        )


def _reap(workers, done, running, scenarios, outcomes, on_outcome, results) -> None:
    if not results.empty():  # a dead worker's last messages may still be in the pipe
        return
    for n, w in enumerate(workers, start=1):
        if n not in done and not w.is_alive():
            done.add(n)
            _lost(n, running, scenarios, outcomes, on_outcome, f"died (exit {w.exitcode})")


def _join(workers) -> None:
    for w in workers:
        w.join(JOIN)
        if w.is_alive():
            progress.warn(f"worker {w.name} did not exit within {JOIN:g}s; killed")
            w.kill()
            w.join(5)


def _worker(n: int, scenarios: list, next_index, turn, results) -> None:
    """One cluster pool: take the next scenario until none is left; remove the cluster. The
    worker whose turn it is takes the next scenario and boots (or resets) for it, so the first
    cluster up takes the first scenario."""
    from testbed.core.interrupts import deferred
    from testbed.pool import ClusterPool

    pool = ClusterPool()  # nothing booted yet
    try:
        _own_signals()
        progress.tag_output(f"[c{n}] ")
        while (outcome := _run_next(n, scenarios, next_index, turn, results, pool)) is not None:
            if outcome.stops_worker or not _parent_alive():
                break
    except KeyboardInterrupt:
        pass
    finally:
        with deferred("removing this worker's cluster; this finishes in a few seconds"):
            failed = pool.close(reason="testbed run done")
        if failed:
            progress.warn(f"teardown left: {'; '.join(failed)}")
        results.put(("done", n, pool.reset_seconds))


def _own_signals() -> None:
    """A process group of its own (the terminal's Ctrl-C goes to the parent, which passes it
    on once), Ctrl-C and SIGTERM as KeyboardInterrupt even if the parent ignored them, SIGTERM
    when the parent dies; then the signals blocked while it started are let through."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:  # PR_SET_PDEATHSIG (Linux): a parent killed outright does not leave clusters running
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def _parent_alive() -> bool:
    parent = mp.parent_process()
    return parent is None or parent.is_alive()


def _run_next(n: int, scenarios, next_index, turn, results, pool) -> Outcome | None:
    """Take the next scenario (in this worker's turn), boot or reset for it, run it; the
    outcome is sent whatever happens once the scenario is taken."""
    outcome = None
    try:
        with _one_at_a_time(turn, n):
            with next_index.get_lock():
                index = next_index.value
                next_index.value += 1
            if index >= len(scenarios):
                return None
            scenario = scenarios[index]
            outcome = Outcome(index, scenario.name, n)
            results.put(("start", n, index))
            cluster = _guarded(outcome, _cluster_for, pool, scenario, index)
        if cluster is not None:
            _guarded(outcome, _execute, scenario, cluster, outcome)
        return outcome
    finally:
        if outcome is not None:
            if outcome.verdict is None and outcome.error is None:
                outcome.error = INTERRUPTED  # Ctrl-C between the steps above
            results.put(("outcome", n, outcome))


def _cluster_for(pool, scenario, index: int):
    """Every boot but the run's first is at :data:`BOOT_WEIGHT`: another cluster may be running
    a drill meanwhile (a weight costs nothing where nothing else runs)."""
    return pool.get(scenario.topology.build(), boot_weight=BOOT_WEIGHT if index else None)


def _guarded(outcome: Outcome, fn, *args):
    """``fn(*args)``; a failure (e.g. a boot that failed) or Ctrl-C before a verdict becomes the
    scenario's error. A TestbedError (no engine, an image missing) is fatal: no boot would do
    better, the worker stops, as a serial run would."""
    try:
        return fn(*args)
    except KeyboardInterrupt:
        outcome.error = INTERRUPTED
    except TestbedError as exc:
        outcome.error, outcome.fatal = exc.one_line(), True
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:2000]
    return None


def _execute(scenario, cluster, outcome: Outcome) -> None:
    from testbed.engine.execute import Interrupted, execute

    progress.step(f"scenario {scenario.name} on run {cluster.run_id}")
    try:
        outcome.verdict, outcome.folder = execute(scenario, cluster)
    except Interrupted as stop:
        outcome.verdict, outcome.folder = stop.verdict, stop.folder


@contextmanager
def _one_at_a_time(lock, n: int) -> Iterator[None]:
    """Boots and resets take turns: both are CPU work, and on 2 cores two boots side by side
    end no sooner than one after the other, while the first cluster would wait for nothing.
    A holder that died never releases the lock: after :data:`BOOT_TURN` this one goes anyway."""
    got = lock.acquire(timeout=BOOT_TURN)
    if not got:
        progress.warn(f"c{n}: another worker's boot holds the turn past {BOOT_TURN:g}s; booting")
    try:
        yield
    finally:
        if got:
            lock.release()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt
