"""Kerberos checks on the nodes themselves: no keytab on a worker, the shared cache is read-only
there, tickets are refreshed every cycle (and after a heal) and valid (or not), and whether a
node (the refresher sidecar) kept running through a fault.

Observations they read (recorded by :mod:`testbed.observe`):

- ``kerberos_ticket`` (target: node): parsed ``klist`` of the shared cache as the worker sees
  it, ``{"principal", "tickets": [{"start", "expires", "service", "renew_until"}],
  "sidecar": {"state", "restarts"}}``; ``klist_error`` when there is no cache.
- ``keytab_scan`` (target: node): ``{"files", "scanned", "mounts", "cache", "env",
  "cache_as_user", "container": {"mounts", "keytab_env", "kdc_password_in_env"}}``.
- ``kerberos_xcom`` (target: run name): a kerberized task's own account of its keytab variable.
- ``container`` events (node, state) recorded by the engine when a node's state changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from testbed.checks.kerberos_auth import Strict
from testbed.checks.result import CheckResult
from testbed.checks.view import Event, View

SIDECAR_SUFFIX = "-kerberos"


# -- no keytab on a worker, a read-only cache ---------------------------------------------------
class NodesParams(Strict):
    targets: list[str] | None = None  # default: every node scanned (the workers)


def _latest_per_target(view: View, probe: str, targets: list[str] | None) -> dict[str, Event]:
    latest: dict[str, Event] = {}
    for o in view.observations(probe):
        if targets is None or o["target"] in targets:
            latest[o["target"]] = o
    return latest


def _scans(view: View, targets: list[str] | None) -> tuple[dict[str, dict], list[str]]:
    latest = _latest_per_target(view, "keytab_scan", targets)
    problems = [f"{n}: not scanned" for n in (targets or []) if n not in latest]
    problems += [f"{n}: scan failed ({o['error']})" for n, o in latest.items() if o.get("error")]
    values = {n: o["value"] for n, o in latest.items() if not o.get("error")}
    return values, problems


def keytab_absent(view: View, p: NodesParams) -> CheckResult:
    """No keytab on the scanned nodes: no keytab file anywhere on the filesystem (by content or
    name), no process environment naming an existing keytab file, no keytab variable in the
    container's configuration, no mount of a keytab, the KDC's master password nowhere in the
    environment; nor did any kerberized task report a keytab variable naming an existing file."""
    values, problems = _scans(view, p.targets)
    if not values and not problems:
        return CheckResult.failed("no keytab_scan observation")
    scanned, notes = 0, []
    for node, v in sorted(values.items()):
        scanned += v.get("scanned", 0)
        problems += [f"{node}: keytab file {f['path']}" for f in v.get("files", [])]
        problems += [
            f"{node}: pid {e['pid']} has {e['name']}={e['value']} (the file exists)"
            for e in v.get("env", [])
            if e.get("exists")
        ]
        notes += [f"{node}: {e['name']}={e['value']} (no such file)" for e in v.get("env", [])]
        c = v.get("container", {})
        problems += [f"{node}: container env {e}" for e in c.get("keytab_env", [])]
        problems += [
            f"{node}: mount {m['destination']}"
            for m in c.get("mounts", [])
            if "keytab" in str(m.get("destination", "")) + str(m.get("name", ""))
        ]
        if c.get("kdc_password_in_env"):
            problems.append(f"{node}: the KDC master password is in its environment")
    for o in view.observations("kerberos_xcom"):
        for label, seen in ((o.get("value") or {}).get("xcom") or {}).items():
            if isinstance(seen, dict) and seen.get("keytab_env_exists"):
                problems.append(f"task {label} on {seen.get('hostname')}: {seen['keytab_env']}")
    m = {"nodes": sorted(values), "files_scanned": scanned, "notes": notes[:6]}
    if problems:
        return CheckResult.failed(f"{len(problems)} problem(s): {'; '.join(problems[:6])}", **m)
    return CheckResult.passed(
        f"no keytab on {', '.join(sorted(values))} ({scanned} files, process environments, "
        "mounts and container configuration scanned)",
        **m,
    )


def worker_cache_read_only(view: View, p: NodesParams) -> CheckResult:
    """The shared credential cache is there and readable on each scanned node, and neither its
    user nor root can append to it or create a file beside it (a read-only mount)."""
    values, problems = _scans(view, p.targets)
    if not values and not problems:
        return CheckResult.failed("no keytab_scan observation")
    outcomes = {}
    for node, v in sorted(values.items()):
        for who, cache in (("root", v.get("cache")), ("user", v.get("cache_as_user"))):
            if not cache:
                problems.append(f"{node}: the cache was not probed as {who}")
                continue
            outcomes[f"{node}:{who}"] = f"append {cache['append']}, create {cache['create']}"
            if not (cache["exists"] and cache["readable"]):
                problems.append(f"{node}: the cache is missing or unreadable as {who}")
            if "ok" in (cache["append"], cache["create"]):
                problems.append(f"{node}: {who} can write the cache ({outcomes[f'{node}:{who}']})")
    if problems:
        return CheckResult.failed(f"{len(problems)} problem(s): {'; '.join(problems[:6])}")
    return CheckResult.passed(
        f"the cache is readable but not writable on {', '.join(sorted(values))} "
        f"({'; '.join(f'{k}: {v}' for k, v in outcomes.items())})",
        outcomes=outcomes,
    )


# -- tickets ------------------------------------------------------------------------------------
class TicketParams(Strict):
    targets: list[str] | None = None  # the nodes whose view of the cache counts (the workers)
    after: str | None = None  # count from this fault's heal (default: the window's start)
    refreshes: int = 1  # issue-time advances needed on each target
    max_interval: float | None = None  # at most this many seconds between issue times (and
    # from the heal to the first one): "within one cycle"
    same_cycle: float = 5.0  # an issue this close to the previous one is the same cycle
    # (`airflow kerberos` renews, `kinit -R`, 1.5 s after each kinit)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _tgt(value: dict[str, Any] | None) -> dict[str, Any] | None:
    tickets = (value or {}).get("tickets") or []
    return next((t for t in tickets if t["service"].startswith("krbtgt/")), None)


def _by_target(view: View, targets: list[str] | None, after: float | None) -> dict[str, list]:
    out: dict[str, list[Event]] = {}
    for o in view.observations("kerberos_ticket", after=after):
        if targets is None or o["target"] in targets:
            out.setdefault(o["target"], []).append(o)
    for n in targets or []:
        out.setdefault(n, [])
    return out


def ticket_refreshed(view: View, p: TicketParams) -> CheckResult:
    """The TGT's issue time (klist's "valid starting") advanced at least ``refreshes`` times on
    each target after the start (a fault's heal, or the window's start), each new issue at most
    ``max_interval`` s after the previous one (the first: after the start). Issues less than
    ``same_cycle`` s apart count once (a kinit and the renewal that follows it)."""
    start_mono, start_wall = view.since, None
    if p.after is not None:
        heal = view.fault(p.after, "heal")
        if heal is None:
            return CheckResult.failed(f"fault {p.after!r} has no heal event in the history")
        start_mono, start_wall = heal["mono"], heal["wall"]
    series = _by_target(view, p.targets, start_mono)
    if not series:
        return CheckResult.failed("no kerberos_ticket observation")
    everything = _by_target(view, p.targets, None) if start_wall is not None else series
    problems, m = [], {}
    for node, obs in sorted(series.items()):
        seen = [(o, t) for o in obs if (t := _tgt(o.get("value")))]
        if not seen:
            problems.append(f"{node}: no ticket observed ({len(obs)} observations)")
            continue
        issues = sorted({_epoch(t["start"]) for _, t in seen})
        prev = start_wall if start_wall is not None else issues[0]
        # the cycle in force at the start (seen before a heal too): a renewal right after it is
        # not a refresh, while a kinit right after a heal is (a restarted refresher's first)
        earlier = {_epoch(t["start"]) for o in everything.get(node, []) if (t := _tgt(o["value"]))}
        before = sorted(s for s in earlier | set(issues) if s <= prev)
        fresh: list[float] = []
        for s in issues:
            ref = fresh[-1] if fresh else (before[-1] if before else None)
            if s > prev and (ref is None or s - ref > p.same_cycle):
                fresh.append(s)
        gaps = [round(b - a, 1) for a, b in zip([prev, *fresh], fresh, strict=False)]
        m[node] = {"refreshes": len(fresh), "gaps": gaps}
        if len(fresh) < p.refreshes:
            problems.append(f"{node}: {len(fresh)} refresh(es) seen, not {p.refreshes}")
        elif p.max_interval is not None and max(gaps) > p.max_interval:
            problems.append(
                f"{node}: a refresh came {max(gaps)}s after the last, > {p.max_interval:g}s"
            )
    if problems:
        return CheckResult.failed("; ".join(problems), **m)
    return CheckResult.passed(
        "tickets refreshed: "
        + "; ".join(f"{n}: {v['refreshes']}x, gaps {v['gaps']} s" for n, v in sorted(m.items())),
        **m,
    )


class ValidParams(Strict):
    targets: list[str] | None = None
    valid: bool = True  # False: the ticket must be gone or expired (a sidecar killed long ago)


def ticket_valid(view: View, p: ValidParams) -> CheckResult:
    """On the latest observation of each target, the cache holds an unexpired TGT (``valid``),
    or holds none / an expired one (``valid: false``)."""
    latest = _latest_per_target(view, "kerberos_ticket", p.targets)
    missing = [n for n in (p.targets or []) if n not in latest]
    if not latest or missing:
        return CheckResult.failed(f"no kerberos_ticket observation of {missing or 'any node'}")
    states, problems = {}, []
    for node, o in sorted(latest.items()):
        tgt = None if o.get("error") else _tgt(o.get("value"))
        left = round(_epoch(tgt["expires"]) - o["wall"], 1) if tgt else None
        ok = left is not None and left > 0
        states[node] = left
        if o.get("error"):
            problems.append(f"{node}: klist gave no answer ({o['error']})")
        elif ok != p.valid:
            problems.append(
                f"{node}: " + (f"ticket valid for {left}s more" if ok else "no valid ticket")
            )
    if problems:
        return CheckResult.failed("; ".join(problems), seconds_left=states)
    what = "valid" if p.valid else "expired or absent"
    return CheckResult.passed(f"tickets {what} on {', '.join(sorted(states))}", seconds_left=states)


# -- did a node keep running ----------------------------------------------------------------------
class StayedUpParams(Strict):
    fault: str  # the window: this fault's inject to its heal (plus ``grace``)
    node: str | None = None  # a sidecar or a worker (default: every node named *-kerberos)
    grace: float = 60.0


def node_stayed_up(view: View, p: StayedUpParams) -> CheckResult:
    """The node(s) kept running through the fault: no container state other than running, and
    neither the restart count nor the start time (from the ticket observations) changed, from
    before the inject to the heal plus ``grace``. ``airflow kerberos`` exits when a kinit fails
    and its restart policy is the retry: as a finding, this records which happened."""
    inject, heal = view.fault(p.fault, "inject"), view.fault(p.fault, "heal")
    if inject is None:
        return CheckResult.failed(f"fault {p.fault!r} was never injected")
    end = (heal["mono"] if heal else float("inf")) + p.grace

    def mine(node: str | None) -> bool:
        return node is not None and (node == p.node if p.node else node.endswith(SIDECAR_SUFFIX))

    states: dict[str, list[str]] = {}
    for e in view.of("container"):
        if mine(e.get("node")) and inject["mono"] <= e["mono"] <= end:
            states.setdefault(e["node"], []).append(e["state"])
    starts: dict[str, list[tuple[int, str]]] = {}
    for o in view.observations("kerberos_ticket"):
        value = o.get("value") or {}
        for key, node in (("node", o["target"]), ("sidecar", o["target"] + SIDECAR_SUFFIX)):
            seen = value.get(key) or {}
            if "restarts" in seen and mine(node) and o["mono"] <= end:
                starts.setdefault(node, []).append((seen["restarts"], seen.get("started_at")))
    down = {n: s for n, s in states.items() if any(x != "running" for x in s)}
    restarted = {
        n: f"{len({at for _, at in s}) - 1} restart(s), restart count {s[0][0]}->{s[-1][0]}"
        for n, s in starts.items()
        if s[-1] != s[0]
    }
    m = {"states": states, "restarted": restarted}
    if down or restarted:
        parts = [f"{n} was {', '.join(dict.fromkeys(s))}" for n, s in sorted(down.items())]
        parts += [f"{n}: {r}" for n, r in sorted(restarted.items())]
        return CheckResult.failed("; ".join(parts), **m)
    if not starts and not states:
        return CheckResult.failed("nothing observed of the node(s) during the fault", **m)
    return CheckResult.passed(
        f"{', '.join(sorted(set(starts) | set(states)))} kept running through {p.fault}", **m
    )


def node_restarted(view: View, p: StayedUpParams) -> CheckResult:
    """The opposite of ``node_stayed_up``: the node(s) exited or were restarted (by their
    restart policy) during the fault, e.g. a refresher whose kinit fails."""
    stayed = node_stayed_up(view, p)
    m = stayed.measurements
    if stayed.ok:
        return CheckResult.failed(stayed.detail, **m)
    if not m.get("states") and not m.get("restarted"):
        return CheckResult.failed(stayed.detail, **m)  # nothing observed is not an exit
    return CheckResult.passed(stayed.detail, **m)
