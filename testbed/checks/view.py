"""A read-only view of a history's events with the lookups checks share: triggered runs,
fault inject/heal times, observations of a probe in a time window, task-instance series."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Event = dict[str, Any]
TERMINAL_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}


class View:
    def __init__(self, events: Iterable[Event], since: float | None = None) -> None:
        """``since``: a monotonic time; observations before it are outside the window (the
        ``always during`` form of an expectation). Triggers and faults are always visible, and
        so are task instances (their rows are state: a task that did not change during the
        window is in the state last read before it).

        Events are indexed once, by kind and by probe: a check over an hour-long history
        looks up what it needs instead of scanning every event per question."""
        self.events = list(events)
        self.since = since
        self._kinds: dict[str, list[Event]] = {}
        self._probes: dict[str, list[Event]] = {}
        self._runs: dict[tuple[str, str], list[Event]] | None = None
        self._logs: dict[tuple, list[Event]] | None = None
        for e in self.events:
            self._kinds.setdefault(e["kind"], []).append(e)
            if e["kind"] == "observation":
                self._probes.setdefault(e.get("probe"), []).append(e)

    def of(self, kind: str) -> list[Event]:
        """Every event of one ``kind``, in order."""
        return self._kinds.get(kind, [])

    # -- runs and faults ------------------------------------------------------------------
    def run(self, name: str) -> tuple[str, str] | None:
        for e in self.of("trigger"):
            if e.get("name") == name:
                return e["dag_id"], e["run_id"]
        return None

    def run_names(self) -> list[str]:
        return [e["name"] for e in self.of("trigger")]

    def fault(self, name: str, phase: str = "inject") -> Event | None:
        """The fault's first ``inject``, or its last ``heal``."""
        found = [e for e in self.of("fault") if e.get("name") == name and e.get("phase") == phase]
        if not found:
            return None
        return found[0] if phase == "inject" else found[-1]

    # -- observations -------------------------------------------------------------------
    def observations(
        self, probe: str, target: str | None = None, after: float | None = None
    ) -> list[Event]:
        lo = max(x for x in (after, self.since, float("-inf")) if x is not None)
        return [
            e
            for e in self._probes.get(probe, [])
            if (target is None or e.get("target") == target) and e["mono"] >= lo
        ]

    def answers(self, probe: str, target: str, keep) -> tuple[list[Any], str | None]:
        """The values of the ``target``'s looks ``keep`` accepts that answered, and, when none
        did, why: the last such look's error, or "never read"."""
        looks = [o for o in self.observations(probe, target) if keep(o)]
        seen = [o["value"] for o in looks if not o.get("error")]
        why = None if seen else (looks[-1]["error"] if looks else "never read")
        return seen, why

    def task_series(self, run_name: str) -> dict[tuple[str, int], list[Event]]:
        """Every task-instance observation of a run, per (task_id, map_index), in order; only
        the task instances present in the latest read of the run (a ``round``), when known."""
        ids = self.run(run_name)
        out: dict[tuple[str, int], list[Event]] = {}
        if ids is None:
            return out
        latest: dict[tuple[str, int], int] = {}
        for e in self._task_rows().get(ids, []):
            key = (e["value"]["task_id"], e["value"].get("map_index", -1))
            out.setdefault(key, []).append(e)
            latest[key] = max(latest.get(key, 0), e.get("round", 0))
        last_round = max(latest.values(), default=0)
        return {k: s for k, s in out.items() if latest[k] == last_round}

    def _task_rows(self) -> dict[tuple[str, str], list[Event]]:
        """Task-instance observations with a row, per (dag_id, run_id) (built once)."""
        if self._runs is None:
            self._runs = {}
            for e in self._probes.get("task_instance", []):
                v = e.get("value")
                if isinstance(v, dict):
                    self._runs.setdefault((v.get("dag_id"), v.get("run_id")), []).append(e)
        return self._runs

    def remote_logs(self) -> dict[tuple, list[Event]]:
        """``remote_log`` observations with a value, per attempt (dag_id, run_id, task_id,
        try_number, map_index), in order (built once; the window applies)."""
        if self._logs is None:
            self._logs = {}
            for e in self.observations("remote_log"):
                if v := e.get("value"):
                    key = (v["dag_id"], v["run_id"], v["task_id"], v["try_number"])
                    self._logs.setdefault((*key, v.get("map_index", -1)), []).append(e)
        return self._logs

    def task(self, run_name: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """The observed values of one task instance, in order."""
        series = self.task_series(run_name).get((task_id, map_index), [])
        return [e["value"] for e in series]


def ti_label(ti: dict[str, Any]) -> str:
    """``work``, or ``work[3]`` for one instance of a mapped task."""
    return f"{ti['task_id']}[{ti['map_index']}]" if ti["map_index"] >= 0 else ti["task_id"]


def step_windows(events: list[Event], action: str) -> list[tuple[Event, Event | None]]:
    """Each ``action`` step's start event and its end event (None while it is under way),
    paired by the step's index, in the order the steps started."""
    out: list[tuple[Event, Event | None]] = []
    open_: dict[object, int] = {}  # step index -> its position in out
    for e in events:
        if e["kind"] != "step" or e.get("action") != action:
            continue
        if e.get("phase") == "start":
            open_[e.get("index")] = len(out)
            out.append((e, None))
        elif e.get("phase") == "end" and e.get("index") in open_:
            i = open_.pop(e.get("index"))
            out[i] = (out[i][0], e)
    return out
