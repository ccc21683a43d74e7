"""Upgrade checks: where the schema stands, no migration lock left, which version each node
runs, a component refused by the schema guard, and a worker drained by its warm shutdown.

Pure over the history, like every check. The events they read (the probes that write them are
in :mod:`testbed.upgrade.observe`):

- ``{"kind": "schema_info", "version": "3.3.2", "head": "d2f4e1b3c5a7",
  "revisions": [<base>, ..., "d2f4e1b3c5a7"], "source": "image testbed-airflow:..."}``:
  what a version's own code says about its schema, recorded when the drill reads it.
- observation ``probe="schema"``, ``target="postgres"``, ``value={"revision": "d2f4e1b3c5a7"}``
  (``select version_num from alembic_version``; ``revision`` is None when the table is empty,
  missing (``"table": False``) or holds several rows (``"rows": [...]``)).
- observation ``probe="pg_locks"``, ``target="postgres"``, ``value={"advisory": [{"key": 1,
  "classid": 0, "objid": 1, "objsubid": 1, "granted": True, "pid": 123,
  "application_name": "...", "client_addr": "...", "state": "..."}]}``.
- observation ``probe="version"``, ``target=NODE``, ``value={"airflow": "3.3.2"}``.
- observation ``probe="container_log"``, ``target=NODE``,
  ``value={"state": "exited(1)", "lines": ["...", ...]}``; and the engine's
  ``{"kind": "container", "node": NODE, "state": "exited(1)"}`` events.
- ``{"kind": "signal", "node": "worker-1", "signal": "TERM"}``: the testbed signalled a node.
- observations ``probe="task_instance"`` (see :mod:`testbed.observe`).
"""

from __future__ import annotations

import fnmatch
import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from testbed.checks.result import CheckResult
from testbed.checks.view import TERMINAL_TI_STATES, Event, View

MIGRATION_LOCK = 1  # Airflow's DBLocks.MIGRATIONS: `airflow db migrate` takes pg_advisory_lock(1)
# The schema guard's words: 3.1.x prints the first, 3.2 and 3.3 log the second.
REFUSAL_MESSAGES = ["You need to migrate the database", "Database migration required"]


def _events(view: View, kind: str) -> list[Event]:
    return view.of(kind)


def _latest(view: View, probe: str, target: str) -> tuple[Event | None, str | None]:
    """The latest observation, or why there is none to judge."""
    seen = view.observations(probe, target)
    if not seen:
        return None, f"no {probe} observation of {target}"
    last = seen[-1]
    if last.get("error"):
        return None, f"{probe} of {target} could not be read: {last['error']}"
    return last, None


def schema_info(view: View, version: str) -> Event | None:
    """The latest ``schema_info`` event of ``version``."""
    found = [e for e in _events(view, "schema_info") if e.get("version") == version]
    return found[-1] if found else None


# -- schema_head ------------------------------------------------------------------------------
class SchemaHeadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str  # at this version's head (its schema_info event) ...
    from_version: str | None = None  # ... or on the path from this version's head to it
    strict: bool = False  # with from_version: strictly after its head, before the new head
    target: str = "postgres"

    @model_validator(mode="after")
    def _strict_needs_a_path(self) -> SchemaHeadParams:
        if self.strict and self.from_version is None:
            raise ValueError("strict needs from_version")
        return self


def schema_head(view: View, p: SchemaHeadParams) -> CheckResult:
    """The latest alembic_version is a version's head, or lies on the path between two heads."""
    obs, problem = _latest(view, "schema", p.target)
    if obs is None:
        return CheckResult.failed(problem or "")
    value = obs.get("value") or {}
    rev = value.get("revision")
    if rev is None:
        why = "has no alembic_version table" if value.get("table") is False else None
        why = why or f"alembic_version holds {len(value.get('rows') or [])} rows"
        return CheckResult.failed(f"the database {why}", value=value)
    if p.from_version is not None:
        return _on_path(view, p, rev)
    info = schema_info(view, p.version)
    if info is None:
        return CheckResult.failed(f"no schema_info of {p.version} in the history")
    label = f"the head of {p.version} ({info['head']})"
    if rev != info["head"]:
        return CheckResult.failed(
            f"alembic_version is {rev}, not {label}", revision=rev, expected=info["head"]
        )
    return CheckResult.passed(f"alembic_version is {label}", revision=rev)


def _on_path(view: View, p: SchemaHeadParams, rev: str) -> CheckResult:
    pair = (str(p.from_version), p.version)
    old, new = (schema_info(view, v) for v in pair)
    if old is None or new is None:
        missing = [v for v, i in zip(pair, (old, new), strict=True) if i is None]
        return CheckResult.failed(f"no schema_info of {', '.join(missing)} in the history")
    chain = list(new.get("revisions") or [])
    if old["head"] not in chain or new["head"] not in chain:
        return CheckResult.failed(
            f"the head of {pair[0]} ({old['head']}) is not on {pair[1]}'s chain"
        )
    path = chain[chain.index(old["head"]) : chain.index(new["head"]) + 1]
    m = {"revision": rev, "steps": len(path) - 1}
    if rev not in path:
        return CheckResult.failed(
            f"alembic_version {rev} is not on the path {old['head']} -> {new['head']} "
            f"({len(path) - 1} migrations)",
            **m,
        )
    m["position"] = path.index(rev)
    where = f"{m['position']} of {len(path) - 1} migrations applied"
    if p.strict and rev in (old["head"], new["head"]):
        end = pair[0] if rev == old["head"] else pair[1]
        return CheckResult.failed(f"alembic_version {rev} is the head of {end}, not between", **m)
    return CheckResult.passed(
        f"alembic_version {rev} is on the path {pair[0]} -> {pair[1]} ({where})", **m
    )


# -- no_migration_lock ------------------------------------------------------------------------
class LockParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: int | None = MIGRATION_LOCK  # None: any advisory lock at all
    target: str = "postgres"


def no_migration_lock(view: View, p: LockParams) -> CheckResult:
    """The latest pg_locks observation shows no advisory lock (held or awaited) on the key."""
    obs, problem = _latest(view, "pg_locks", p.target)
    if obs is None:
        return CheckResult.failed(problem or "")
    locks = (obs.get("value") or {}).get("advisory") or []
    hits = [x for x in locks if p.key is None or x.get("key") == p.key]
    what = "advisory lock" if p.key is None else f"advisory lock {p.key}"
    if hits:
        who = "; ".join(
            f"pid {x.get('pid')} {'holds' if x.get('granted') else 'waits for'} it "
            f"({x.get('application_name') or '?'} from {x.get('client_addr') or 'local'}, "
            f"{x.get('state') or '?'})"
            for x in hits
        )
        return CheckResult.failed(f"{what}: {who}", holders=hits)
    return CheckResult.passed(f"no {what} held or awaited", advisory=len(locks))


# -- versions_in_force ------------------------------------------------------------------------
class VersionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    nodes: list[str] | None = None  # these nodes (each must have been read)
    match: str | None = None  # or every node read whose name matches, e.g. "worker-*"
    min_nodes: int = 1


def versions_in_force(view: View, p: VersionsParams) -> CheckResult:
    """The latest version observation of each selected node is ``version`` (a node removed
    since its last reading, e.g. a webserver an upgrade to Airflow 3 retired, is not there)."""
    latest: dict[str, Event] = {}
    for obs in view.observations("version"):
        latest[obs["target"]] = obs
    gone = {e["node"]: e["seq"] for e in _events(view, "container") if e.get("state") == "removed"}
    latest = {n: o for n, o in latest.items() if gone.get(n, -1) < o["seq"]}
    if p.nodes is not None:
        names = list(p.nodes)
    else:
        names = sorted(n for n in latest if p.match is None or fnmatch.fnmatch(n, p.match))
    running: dict[str, str | None] = {}
    wrong: list[str] = []
    for node in names:
        obs = latest.get(node)
        if obs is None or obs.get("error"):
            wrong.append(f"{node} not read" + (f" ({obs['error']})" if obs else ""))
            continue
        running[node] = (obs.get("value") or {}).get("airflow")
        if running[node] != p.version:
            wrong.append(f"{node} runs {running[node]}")
    if len(names) < p.min_nodes:
        wrong.append(f"{len(names)} node(s) selected, fewer than {p.min_nodes}")
    if wrong:
        return CheckResult.failed(
            f"not all on {p.version}: {'; '.join(wrong)}", running=running, bad=len(wrong)
        )
    return CheckResult.passed(
        f"{len(names)} node(s) on Airflow {p.version}: {', '.join(names)}", running=running
    )


# -- component_refused ------------------------------------------------------------------------
class RefusedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str
    messages: list[str] = REFUSAL_MESSAGES  # any one of them, case-insensitive
    exit_code: int | None = None  # None: any non-zero exit


def _exit_code(state: str | None) -> int | None:
    m = re.fullmatch(r"exited\((-?\d+)\)", state or "")
    return int(m.group(1)) if m else None


def component_refused(view: View, p: RefusedParams) -> CheckResult:
    """The node's container exited (non-zero) and its log shows the schema guard's message."""
    logs = view.observations("container_log", p.node)
    value = (logs[-1].get("value") or {}) if logs else {}
    states = [e for e in _events(view, "container") if e.get("node") == p.node]
    state = value.get("state") or (states[-1].get("state") if states else None)
    code = _exit_code(state)
    m = {"state": state, "exit_code": code}
    if code is None:
        return CheckResult.failed(f"{p.node} did not exit (state {state or 'never seen'})", **m)
    if (p.exit_code is None and code == 0) or (p.exit_code is not None and code != p.exit_code):
        wanted = "non-zero" if p.exit_code is None else str(p.exit_code)
        return CheckResult.failed(f"{p.node} exited {code}, not {wanted}", **m)
    if not logs:
        return CheckResult.failed(f"{p.node} exited {code}; its log was never read", **m)
    lines = [str(x) for x in value.get("lines") or []]
    wanted = [s.lower() for s in p.messages]
    hit = next((ln for ln in lines if any(w in ln.lower() for w in wanted)), None)
    if hit is None:
        last = lines[-1][-200:] if lines else "(empty log)"
        return CheckResult.failed(
            f"{p.node} exited {code} without the refusal message; last line: {last}", **m
        )
    m["message"] = hit.strip()[:300]
    return CheckResult.passed(f"{p.node} refused (exit {code}): {m['message']}", **m)


# -- drained_cleanly --------------------------------------------------------------------------
class DrainedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str | None = None  # the worker that was signalled (its first ``signal``)
    # or: the node a kill/stop fault (the pod a pod_delete) signalled, from that signal on
    fault: str | None = None
    signal: str = "TERM"
    min_tasks: int = 1  # task instances running on it at the signal (a drain of nothing proves
    # nothing)

    @model_validator(mode="after")
    def _one_subject(self) -> DrainedParams:
        if (self.node is None) == (self.fault is None):
            raise ValueError("give either 'node' (a worker) or 'fault' (a kill/stop fault)")
        return self


TiKey = tuple[str, str, str, int]


def _ti_series(view: View) -> dict[TiKey, list[Event]]:
    out: dict[TiKey, list[Event]] = {}
    for e in view.observations("task_instance"):
        v = e.get("value")
        if v:
            key = (v["dag_id"], v["run_id"], v["task_id"], v.get("map_index", -1))
            out.setdefault(key, []).append(e)
    return out


def drained_cleanly(view: View, p: DrainedParams) -> CheckResult:
    """Every task instance running on the node at its first ``signal`` ended success on the
    same try, on the same node: a warm shutdown, no retry. Measures the drain time. A glob
    (``worker-*``) judges every signalled node it matches: all must drain, and at least
    ``min_tasks`` tasks must have been running across them. With ``fault``, the signal that
    fault sent starts the judgement, on the node it went to (e.g. a ``host_of:`` target, or a
    node signalled a second time)."""
    if p.node is not None and any(ch in p.node for ch in "*?["):
        return _drained_all(view, p)
    return _drained_one(view, p)


def _drained_all(view: View, p: DrainedParams) -> CheckResult:
    nodes = sorted(
        {e["node"] for e in _events(view, "signal") if fnmatch.fnmatch(e["node"], p.node)}
    )
    if not nodes:
        return CheckResult.failed(f"no node matching {p.node} was sent {p.signal}")
    results = {
        n: _drained_one(view, p.model_copy(update={"node": n, "min_tasks": 0})) for n in nodes
    }
    running = sum(r.measurements.get("running_at_signal", 0) for r in results.values())
    bad = [f"{n}: {r.detail}" for n, r in results.items() if not r.ok]
    m = {"running_at_signal": running, "per_node": {n: r.measurements for n, r in results.items()}}
    if bad:
        return CheckResult.failed("; ".join(bad)[:500], **m)
    if running < p.min_tasks:
        return CheckResult.failed(
            f"{running} task instance(s) were running on {', '.join(nodes)} at {p.signal}, "
            f"fewer than {p.min_tasks}",
            **m,
        )
    return CheckResult.passed(
        f"all {running} task instance(s) running on {', '.join(nodes)} at their {p.signal} "
        "ended success on the same try",
        **m,
    )


def _signal_event(view: View, p: DrainedParams) -> Event | None:
    for e in _events(view, "signal"):
        if e.get("signal") != p.signal:
            continue
        if (p.fault is not None and e.get("fault") == p.fault) or (
            p.fault is None and e.get("node") == p.node
        ):
            return e
    return None


def _drained_one(view: View, p: DrainedParams) -> CheckResult:
    sig = _signal_event(view, p)
    if sig is None:
        return CheckResult.failed(
            f"{p.node or 'the node of ' + str(p.fault)} was never sent {p.signal}"
        )
    p = p.model_copy(update={"node": sig["node"]})
    t0, running, wrong, done_at = sig["mono"], 0, [], []
    for (dag_id, run_id, task_id, idx), series in sorted(_ti_series(view).items()):
        before = [e["value"] for e in series if e["mono"] <= t0]
        if not before or before[-1]["state"] != "running" or before[-1]["hostname"] != p.node:
            continue
        running += 1
        label = f"{dag_id}/{run_id}/{task_id}" + (f"[{idx}]" if idx >= 0 else "")
        try_ = before[-1]["try_number"]
        after = [e for e in series if e["mono"] > t0]
        final = series[-1]["value"]
        retried = max((e["value"]["try_number"] for e in after), default=try_)
        if retried != try_:
            wrong.append(f"{label} retried (try {try_} -> {retried}, {final['state']})")
        elif final["state"] != "success":
            kind = "ended" if final["state"] in TERMINAL_TI_STATES else "still"
            wrong.append(f"{label} {kind} {final['state']} on try {try_}")
        elif final.get("hostname") != p.node:
            wrong.append(f"{label} finished on {final.get('hostname')}, not {p.node}")
        else:
            done_at.append(next(e["mono"] for e in after if e["value"]["state"] == "success"))
    m: dict = {"node": p.node, "running_at_signal": running}
    if done_at:
        m["drained_s"] = round(max(done_at) - t0, 3)
    exits = [
        e
        for e in _events(view, "container")
        if e.get("node") == p.node and e["mono"] > t0 and _exit_code(e.get("state")) is not None
    ]
    if exits:
        m["exited_s"] = round(exits[0]["mono"] - t0, 3)
        m["exit_state"] = exits[0]["state"]
    if running < p.min_tasks:
        return CheckResult.failed(
            f"{running} task instance(s) were running on {p.node} at {p.signal}, "
            f"fewer than {p.min_tasks}",
            **m,
        )
    if wrong:
        return CheckResult.failed(
            f"{len(wrong)} of {running} not drained: {'; '.join(wrong[:8])}", **m
        )
    return CheckResult.passed(
        f"all {running} task instance(s) running on {p.node} at {p.signal} ended success "
        f"on the same try" + (f", within {m['drained_s']}s" if "drained_s" in m else ""),
        **m,
    )


# -- exited -------------------------------------------------------------------------------------
class ExitedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str  # e.g. migrate-2
    code: int | None = 0  # None: any non-zero exit


def exited(view: View, p: ExitedParams) -> CheckResult:
    """The node (a one-shot migrator, or any node) exited with ``code`` (None: non-zero)."""
    codes = [e.get("exit_code") for e in _events(view, "migrate") if e.get("node") == p.node]
    codes = [c for c in codes if c is not None]
    states = [e.get("state") for e in _events(view, "container") if e.get("node") == p.node]
    codes += [c for c in map(_exit_code, states) if c is not None]
    if not codes:
        return CheckResult.failed(f"{p.node} was not seen exiting")
    code = codes[-1]
    ok = code != 0 if p.code is None else code == p.code
    wanted = "non-zero" if p.code is None else str(p.code)
    detail = f"{p.node} exited {code}" + ("" if ok else f", not {wanted}")
    return (CheckResult.passed if ok else CheckResult.failed)(detail, exit_code=code)


# -- migrators_overlapped -----------------------------------------------------------------------
class OverlapParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # one-shot migrators started without waiting, e.g. [migrate-1, migrate-2]
    nodes: list[str] = Field(min_length=2)
    min_seconds: float = 1.0  # how long they must have run at once (start to seen exiting)


def migrators_overlapped(view: View, p: OverlapParams) -> CheckResult:
    """The migrators ran at the same time (each from its start to its exit as seen), one of
    them applied the migrations (exit 0) and every other ended too (waited and found nothing to
    do, or gave up): the race the drill is about really happened."""
    spans, codes = {}, {}
    for node in p.nodes:
        ev = [e for e in _events(view, "migrate") if e.get("node") == node]
        start = next((e["mono"] for e in ev if e.get("phase") == "start"), None)
        end = next((e for e in ev if e.get("phase") == "end"), None)
        if start is None or end is None:
            return CheckResult.failed(f"{node} was not seen starting and exiting")
        spans[node], codes[node] = (start, end["mono"]), end.get("exit_code")
    overlap = min(e for _, e in spans.values()) - max(s for s, _ in spans.values())
    m = {"overlap_s": round(overlap, 2), "exit_codes": codes}
    if overlap < p.min_seconds:
        return CheckResult.failed(
            f"the migrators ran {overlap:.1f}s at once, under {p.min_seconds:g}s: no race", **m
        )
    if 0 not in codes.values() or None in codes.values():
        return CheckResult.failed(f"overlapped {overlap:.1f}s, but exits {codes}", **m)
    return CheckResult.passed(f"ran {overlap:.1f}s at once; exits {codes}", **m)
