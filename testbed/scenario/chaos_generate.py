"""The chaos generator: a schedule of faults drawn from a seed. Pure data, no Docker: the same
seed and parameters always draw the same schedule (``random.Random(seed)``, draws in a fixed
order), so a seed is enough to run it again, and a record's schedule is enough to replay it.

The fault model — what may be drawn, and why:

- **Faults never overlap.** Each fault is preceded by a quiet gap and healed before the next
  gap starts; the chaos window (``duration``) holds every gap and fault, the rest of it is
  quiet. What a failure points at is then one fault, which is what shrinking needs.
- **Node faults** (``hang`` by ``docker pause`` or SIGSTOP of the main process, ``kill``,
  ``restart``, ``partition``) hit Airflow nodes: by default the scheduler, the dag-processor,
  the triggerer and the workers. The **api-server** is drawn only when named in ``targets``:
  with one api-server every task in flight fails while it is away (the Execution API client
  gives up after ~13 s) and the workload's triggers are missed, so a run says little else.
  **Postgres, Redis, MinIO and Toxiproxy are never node targets**: the runner's own reads go
  to them (the history, the log check) and Toxiproxy carries every database and broker link;
  their outages are drawn as link faults instead.
- **Link faults** are Toxiproxy toxics on one component's link: to Postgres ``latency`` or
  ``stall`` (bytes held and delivered at the heal; a blackhole's dropped bytes make a client
  exit rather than recover), to Redis ``latency`` or ``down`` (the broker-outage drill's).
  Links of the api-server and of a migrator are not drawn by default.
- **On Kubernetes** the Airflow roles are pods: ``pod_delete`` hits them (by default every role
  but the api-server, the Celery workers included; ``grace`` 0 s, a crash, or 30 s, what a
  rolling update or a drain does), and the link faults hit the pods' links. The node kinds
  have no Airflow node to hit there.
- ``partition`` is allowed but not a default kind: a node cut off the network may exit (a
  scheduler whose database connection breaks), and the testbed starts nothing after a
  partition's heal, so it reports what a supervisor would have to do.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from typing import Any

from testbed.core.errors import ScenarioError
from testbed.core.values import parse_duration
from testbed.faults.registry import CHAOS_KINDS, REGISTRY
from testbed.topology import INFRA, Topology

KINDS = CHAOS_KINDS  # the kinds the fault registry lets chaos draw
POD_KINDS = tuple(k for k in KINDS if REGISTRY[k].targets == "pod")
NODE_KINDS = tuple(k for k in KINDS if k != "link" and k not in POD_KINDS)
POD_GRACES = ("0s", "30s")  # a crash; what a rolling update or a node drain gives
DEFAULT_KINDS = ("hang", "kill", "restart", "link")
TOXICS = {  # per upstream, the toxics that heal cleanly (see the module)
    "postgres": ("latency", "stall"),
    "redis": ("latency", "down"),
    "api-server": ("latency", "stall", "down"),  # the Task SDK's HTTP client retries
    "minio": ("latency", "stall"),  # an upload or a log read waits, then completes
}
WORKLOAD_CONF = {  # small runs: the workload is traffic, not load (2 cores)
    "many_tasks": {"count": 2, "seconds": 1},
    "long_task": {"seconds": 20},
}
NOT_DRAWN_BY_DEFAULT = ("api-server", "migrate")
# links drawn only when named (--targets '*->api-server'): the Execution API's and the log
# store's, so the default draw stays what it was before they existed
NOT_DRAWN_UPSTREAMS = ("api-server", "minio")


class ChaosError(ScenarioError):
    """Chaos parameters that cannot draw a meaningful schedule (said before anything boots)."""


@dataclass(frozen=True)
class Drawn:
    """One drawn fault: ``gap`` quiet seconds, then ``kind`` on ``target`` for ``seconds``."""

    kind: str
    target: str
    seconds: float
    gap: float
    params: dict[str, Any] = field(default_factory=dict)  # mode (hang), toxic (link)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "seconds": self.seconds,
            "gap": self.gap,
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Drawn:
        return cls(data["kind"], data["target"], data["seconds"], data["gap"], data["params"])

    def label(self) -> str:
        extra = ",".join(str(v) for v in self.params.values())
        return f"{self.kind}({extra}) {self.target}" if extra else f"{self.kind} {self.target}"


@dataclass(frozen=True)
class WorkloadSpec:
    dag: str
    every: float
    conf: dict[str, Any]


def parse_workload(text: str | None) -> WorkloadSpec | None:
    """``DAG[:every]`` (e.g. ``many_tasks:10s``) -> a workload; ``None``/``none`` -> none."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    dag, _, every = text.partition(":")
    try:
        seconds = parse_duration(every) if every else 10.0
    except ValueError as exc:
        raise ChaosError(f"workload {text!r}: {exc}") from None
    if seconds < 1:
        raise ChaosError(f"workload {text!r}: trigger at most once a second (every >= 1s)")
    return WorkloadSpec(dag.strip(), seconds, dict(WORKLOAD_CONF.get(dag.strip(), {})))


@dataclass(frozen=True)
class Ranges:
    """How long faults and the gaps before them may be, in seconds."""

    min_fault: float = 5.0
    max_fault: float = 30.0
    min_gap: float = 5.0
    max_gap: float = 20.0

    def check(self, duration: float) -> None:
        if self.min_fault > self.max_fault or self.min_gap > self.max_gap:
            raise ChaosError(
                f"min_fault {self.min_fault:g}s..max_fault {self.max_fault:g}s and min_gap "
                f"{self.min_gap:g}s..max_gap {self.max_gap:g}s: each minimum must be <= its maximum"
            )
        need = self.min_gap + self.min_fault
        if duration < need:
            raise ChaosError(
                f"duration {duration:g}s is too short for one fault: it needs at least "
                f"{need:g}s (min_gap {self.min_gap:g}s + min_fault {self.min_fault:g}s)"
            )


def default_targets(topology: Topology) -> list[str]:
    """The Airflow nodes and their links drawn when no targets are named (see the module)."""
    roles = [*topology.airflow_nodes, *topology.pods]
    nodes = [n for n in roles if n not in NOT_DRAWN_BY_DEFAULT]
    links = [
        k.label
        for k in topology.links()
        if k.client not in NOT_DRAWN_BY_DEFAULT and k.upstream not in NOT_DRAWN_UPSTREAMS
    ]
    return nodes + links


def check_targets(targets: list[str], topology: Topology) -> list[str]:
    """Named targets, checked: Airflow nodes (pods on Kubernetes), or links
    (``client->upstream``, globs allowed)."""
    nodes = {*topology.airflow_nodes, *topology.pods}
    links = [k.label for k in topology.links()]
    for t in targets:
        if t in INFRA:
            raise ChaosError(
                f"target {t!r}: infrastructure nodes are never node-fault targets (the runner "
                f"reads them); fault a link to it instead, e.g. '*->{t}' or 'scheduler->{t}'"
                if t in TOXICS
                else f"target {t!r}: infrastructure nodes are never chaos targets (the runner "
                "reads them)"
            )
        if t not in nodes and not fnmatch.filter(links, t):
            raise ChaosError(
                f"unknown chaos target {t!r}; nodes: {', '.join(sorted(nodes))}; "
                f"links: {', '.join(links)}"
            )
    return list(dict.fromkeys(targets))


def is_link(target: str) -> bool:
    return "->" in target


def toxics_for(target: str, topology: Topology) -> tuple[str, ...]:
    """The toxics that heal cleanly on every link ``target`` names (see the module)."""
    labels = fnmatch.filter([k.label for k in topology.links()], target)
    upstreams = {label.split("->", 1)[1] for label in labels}
    allowed = [t for t in ("latency", "stall", "down") if all(t in TOXICS[u] for u in upstreams)]
    return tuple(allowed)


def _fits(kind: str, target: str, pods: list[str]) -> bool:
    """A link kind hits links, a pod kind pod roles, a node kind the other targets."""
    if kind == "link" or is_link(target):
        return kind == "link" and is_link(target)
    return (kind in POD_KINDS) == (target in pods)


def eligible(kinds: list[str], targets: list[str], pods: list[str] = ()) -> dict[str, list[str]]:
    """Per kind (in the order asked), the targets it may hit (``pods``: the topology's pod
    roles); kinds with none left out."""
    out = {}
    for kind in dict.fromkeys(kinds):
        fits = [t for t in targets if _fits(kind, t, list(pods))]
        if fits:
            out[kind] = fits
    if not out:
        raise ChaosError(
            f"no target suits the fault kinds {', '.join(kinds)}: node kinds "
            f"({', '.join(NODE_KINDS)}) need nodes, {', '.join(POD_KINDS)} needs pods "
            f"(Kubernetes), 'link' needs links; targets: {', '.join(targets)}"
        )
    return out


def default_kinds(topology: Topology) -> tuple[str, ...]:
    """The kinds drawn when none are named: on Kubernetes the pod and link kinds (its Airflow
    roles are pods, not nodes)."""
    return (*POD_KINDS, "link") if topology.kubernetes else DEFAULT_KINDS


def check_kinds(kinds: list[str], topology: Topology) -> None:
    """Every kind runs on the topology's backend (the fault registry's ``backends``)."""
    for kind in kinds:
        backends = REGISTRY[kind].backends
        if backends and topology.backend not in backends:
            raise ChaosError(
                f"fault kind {kind!r} runs on backend {' or '.join(backends)}, not "
                f"{topology.backend}; kinds here: {', '.join(default_kinds(topology))}, ..."
            )


def _seconds(rng: random.Random, lo: float, hi: float) -> float:
    """A whole number of seconds in [lo, hi] where there is one (easier to read and replay)."""
    value = float(round(rng.uniform(lo, hi)))
    return min(max(value, lo), hi)


def _params(rng: random.Random, kind: str, target: str, topology: Topology) -> dict[str, Any]:
    if kind == "hang":
        return {"mode": rng.choice(("pause", "sigstop"))}
    if kind == "link":
        return {"toxic": rng.choice(toxics_for(target, topology))}
    if kind in POD_KINDS:
        return {"grace": rng.choice(POD_GRACES)}
    return {}


def draw(
    seed: int,
    duration: float,
    kinds: list[str],
    targets: list[str],
    topology: Topology,
    ranges: Ranges = Ranges(),
) -> tuple[Drawn, ...]:
    """Faults drawn from ``seed`` until the next would not fit in ``duration``; the last one
    is cut to fit when it can still last ``min_fault``."""
    ranges.check(duration)
    check_kinds(kinds, topology)
    pool = eligible(kinds, targets, topology.pods)
    rng, out, used = random.Random(seed), [], 0.0
    while True:
        kind = rng.choice(list(pool))
        target = rng.choice(pool[kind])
        gap = _seconds(rng, ranges.min_gap, ranges.max_gap)
        seconds = _seconds(rng, ranges.min_fault, ranges.max_fault)
        params = _params(rng, kind, target, topology)
        seconds = min(seconds, duration - used - gap)
        if seconds < ranges.min_fault:
            return tuple(out)
        out.append(Drawn(kind, target, seconds, gap, params))
        used += gap + seconds
