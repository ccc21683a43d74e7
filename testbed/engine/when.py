"""Waiting for a fault's ``when:`` condition (:mod:`testbed.scenario.when`) in the background.

A :class:`Watch` is a thread that asks its condition every :data:`POLL` seconds until it holds
(then calls ``on_held`` with what matched and when it was seen) or ``within`` runs out (then
``on_timeout``); :meth:`Watch.cancel` ends it early (a heal step, the scenario's end). The
conditions are :class:`TaskState` (the run's task instance read from the metadata database,
each read bounded), :class:`LogLine` (the node's output followed from the moment the watch
starts), :class:`ProbeAnswer` (the observer's records of a probe, from then on) and
:class:`SchemaLeft` (the schema's revision, read from the metadata database). The fault
book (:mod:`testbed.engine.fault_book`) injects when it holds.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from testbed.checks.health import classify
from testbed.scenario.when import LogCondition, ProbeCondition, SchemaCondition, TaskCondition
from testbed.services import postgres

if TYPE_CHECKING:
    from testbed.cluster import Cluster

POLL = 0.05  # seconds between two looks: a race window lasts a scheduler loop or less
READ_TIMEOUT = 2.0  # one database read
REPORTED = ("state", "try_number", "external_executor_id", "hostname")  # in every match


class Watch(threading.Thread):
    """Looks at ``check`` until it returns a match or ``within`` s pass; daemon."""

    def __init__(
        self,
        check: Callable[[], dict | None],
        within: float,
        on_held: Callable[[dict, float], None],
        on_timeout: Callable[[str], None],
        name: str,
    ) -> None:
        super().__init__(name=f"when:{name}", daemon=True)
        self.check, self.within = check, within
        self.on_held, self.on_timeout = on_held, on_timeout
        self._cancelled = threading.Event()

    def run(self) -> None:
        try:
            self._look()
        finally:
            getattr(self.check, "close", lambda: None)()  # e.g. stop following a node's output

    def _look(self) -> None:
        deadline = time.monotonic() + self.within
        last_error = ""
        while not self._cancelled.is_set():
            try:
                match = self.check()
            except Exception as exc:  # a read that failed: looked at again, said if it stays
                match, last_error = None, f"{type(exc).__name__}: {exc}"[:300]
            if match is not None:
                self.on_held(match, time.monotonic())
                return
            if time.monotonic() >= deadline:
                why = f"the condition did not hold within {self.within:g}s"
                self.on_timeout(why + (f" (last read failed: {last_error})" if last_error else ""))
                return
            self._cancelled.wait(POLL)

    def cancel(self) -> None:
        self._cancelled.set()


class TaskState:
    """The task instance of a triggered run in the condition's state with its column values
    (a run not yet triggered, or a task instance not yet there, does not hold); with ``count``,
    that many instances in one look (the match is the last, with how many held)."""

    def __init__(
        self, cluster: Cluster, cond: TaskCondition, runs: Callable[[], dict[str, tuple[str, str]]]
    ) -> None:
        self.cluster, self.cond, self.runs = cluster, cond, runs
        self.columns = list(dict.fromkeys([*REPORTED, *cond.where]))  # the match shows these
        self.sql = (
            f"select {', '.join(self.columns)} from task_instance "
            "where dag_id = %s and run_id = %s and task_id = %s order by map_index"
        )

    def __call__(self) -> dict | None:
        run = self.runs().get(self.cond.run)
        if run is None:
            return None
        rows = postgres.query(self.cluster, self.sql, (*run, self.cond.task), timeout=READ_TIMEOUT)
        held = [v for row in rows if self._holds(v := dict(zip(self.columns, row, strict=True)))]
        if len(held) < self.cond.count:
            return None
        return held[-1] if self.cond.count == 1 else {**held[-1], "instances": len(held)}

    def _holds(self, values: dict[str, Any]) -> bool:
        if self.cond.state and values["state"] != self.cond.state:
            return False
        return all(_same(values[k], v) for k, v in self.cond.where.items())


def _same(column: Any, wanted: Any) -> bool:
    """A column's value against the condition's (null is None; numbers compared as text too:
    YAML's ``1`` and a text column's ``'1'``)."""
    if wanted is None or column is None:
        return column is wanted
    return column == wanted or str(column) == str(wanted)


class LogLine:
    """A line of the node's output (from the moment this was made) matching the pattern: the
    output is followed in a daemon thread; :meth:`close` stops following."""

    def __init__(self, cluster: Cluster, cond: LogCondition) -> None:
        self.pattern = re.compile(cond.line)
        self.matched: str | None = None
        container = cluster.container(cond.node)
        # a float: docker-py sends it as is (a datetime would be cut to the whole second)
        self._stream = container.logs(stream=True, follow=True, since=time.time())
        threading.Thread(target=self._follow, name=f"log:{cond.node}", daemon=True).start()

    def _follow(self) -> None:
        pending = b""
        try:
            for chunk in self._stream:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    text = line.decode(errors="replace")
                    if self.pattern.search(text):
                        self.matched = text[:500]
                        return
        except Exception:  # closed under it, or the node went away: nothing more to match
            return

    def __call__(self) -> dict | None:
        return {"line": self.matched} if self.matched is not None else None

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:  # already closed
            pass


class SchemaLeft:
    """The schema's revision is set and no longer the head of ``cond.left`` (that version's
    image says which revision its head is)."""

    def __init__(self, cluster: Cluster, cond: SchemaCondition) -> None:
        from testbed.upgrade.versions import schema_info

        self.cluster, self.head = cluster, schema_info(cond.left).head

    def __call__(self) -> dict | None:
        rows = postgres.query(self.cluster, "select version_num from alembic_version", (),
                              timeout=READ_TIMEOUT)  # fmt: skip
        revision = rows[0][0] if len(rows) == 1 else None
        return {"revision": revision} if revision not in (None, self.head) else None


class ProbeAnswer:
    """The first answer of a probe recorded (by the testbed's observer) after this was made
    that classifies as the condition's: ``healthy``, ``unhealthy`` or ``no answer``."""

    def __init__(self, cluster: Cluster, cond: ProbeCondition) -> None:
        self.history, self.cond = cluster.history, cond
        events = self.history.snapshot()
        self.last = events[-1]["seq"] if events else -1  # only what is recorded from now on

    def __call__(self) -> dict | None:
        events, last, found = self.history.snapshot(), self.last, None
        for e in reversed(events):  # the new ones, from the end (old observations are pruned)
            if e["seq"] <= last:
                break
            self.last = max(self.last, e["seq"])
            if self._holds(e):
                found = e  # the earliest new one that holds, as the loop goes back
        if found is None:
            return None
        return {"probe": found["probe"], "target": found.get("target"), "answer": self.cond.answer}

    def _holds(self, e: dict[str, Any]) -> bool:
        if e["kind"] != "observation" or e.get("probe") != self.cond.probe:
            return False
        if self.cond.target is not None and e.get("target") != self.cond.target:
            return False
        return classify(e, self.cond.component) == self.cond.answer
