"""Clock faults on Airflow nodes: ``clock_jump`` steps a running node's wall clock by an offset,
as an NTP step (or a VM resumed from a snapshot) does; monotonic clocks stay true.

Containers share the host's clock, so the node's processes read time through libfaketime: a
topology with ``clock_jumps`` starts every Airflow node with :func:`testbed.faketime.movable_env`,
on the true time while :data:`~testbed.faketime.OFFSET_FILE` is absent. The inject copies the
offset there (root's file: the node's own user cannot move its clock), waits until the running
processes have read it again, and measures the node's clock against the host's; the heal writes
``+0`` there and measures again. Never an empty file: a running process keeps its last offset
then, and a scheduler's main process died on it. Every measurement is recorded, so a report
shows the step the node really saw.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from testbed import faketime, runtime
from testbed.core.errors import FaultError
from testbed.faults.base import Fault

if TYPE_CHECKING:
    from testbed.cluster import Cluster

# seconds a measured offset may differ from the wanted one (libfaketime steps whole seconds),
# beyond half the round trip of the `docker exec` that read the node's clock
TOLERANCE = 2.0
TRUE_TIME = faketime.offset_text(0)  # "+0": what the heal writes


class ClockJump(Fault):
    """Step ``target``'s clock ``offset`` seconds (negative: back) while it runs; the heal steps
    it back to the true time."""

    kind = "clock_jump"

    def __init__(self, cluster: Cluster, target: str, offset: float = 300, **kw) -> None:
        if not cluster.topology.clock_jumps:
            raise FaultError(
                f"clock_jump on {target!r}: the cluster was booted without movable clocks "
                "(topology clock_jumps: true; a scenario with a clock_jump step sets it)"
            )
        super().__init__(cluster, target, **kw)
        self.offset = offset

    def describe(self) -> dict[str, Any]:
        return {"offset": self.offset}

    def _inject(self) -> None:
        _set(self.cluster, self.target, faketime.offset_text(self.offset))
        self.record("jumped", measured=_settled(self.cluster, self.target, self.offset))

    def _heal(self) -> None:
        if self.target not in self.cluster.nodes:  # a node removed meanwhile: a fresh clock
            return
        _set(self.cluster, self.target, TRUE_TIME)
        self.record("back", measured=_settled(self.cluster, self.target, 0.0))

    @classmethod
    def leftovers(cls, cluster: Cluster) -> list[str]:
        """For the heal audit: every running Airflow node whose clock is still stepped."""
        out = []
        for node in _movable(cluster):
            found = runtime.exec_run(
                cluster.container(node), ["cat", faketime.OFFSET_FILE], timeout=10
            )
            if found.exit_code == 0 and found.output.strip() not in ("", TRUE_TIME):
                out.append(f"{node}: its clock is still {found.output.strip()}s off")
        return out

    @classmethod
    def reset(cls, cluster: Cluster) -> None:
        """For a reset: every Airflow node back on the true time, a stopped one too (an empty
        offset file, copied in: it starts again on the true time)."""
        for node in _airflow_nodes(cluster):
            if runtime.state(cluster.container(node)) in ("running", "paused", "exited", "created"):
                _set(cluster, node, TRUE_TIME)


def _set(cluster: Cluster, node: str, offset: str) -> None:
    """Write ``offset`` for the node's processes, copied into its container as root's file (a
    stopped or paused container's too)."""
    data = f"{offset}\n".encode()
    runtime.put_files(cluster.container(node), {faketime.OFFSET_FILE: (data, 0o644)}, uid=0)


def _settled(cluster: Cluster, node: str, wanted: float) -> float:
    """The node's clock minus the host's, once its processes have read the offset again (a
    fresh process reads it at once, a running one within ``faketime.REREAD`` s)."""
    time.sleep(faketime.REREAD + 0.2)
    measured, round_trip = node_offset(cluster, node)
    if abs(measured - wanted) > TOLERANCE + round_trip / 2:
        raise FaultError(
            f"{node}: its clock is {measured:+.0f}s off the host's, not {wanted:+.0f}s "
            "(is libfaketime preloaded there?)"
        )
    return round(measured, 2)


def node_offset(cluster: Cluster, node: str) -> tuple[float, float]:
    """How far the node's wall clock is off the host's (seconds; ahead is positive), and the
    round trip of the reading (the host's clock read before and after it)."""
    before = time.time()
    result = runtime.exec_run(cluster.container(node), ["date", "+%s.%N"], timeout=10, node=node)
    after = time.time()
    try:
        return float(result.output.strip()) - (before + after) / 2, after - before
    except ValueError:
        raise FaultError(f"{node}: no clock reading ({result.output.strip()!r})") from None


def _movable(cluster: Cluster) -> list[str]:
    """The running nodes whose clock a clock_jump may have stepped."""
    nodes = _airflow_nodes(cluster)
    return [n for n in nodes if runtime.state(cluster.container(n)) == "running"]


def _airflow_nodes(cluster: Cluster) -> list[str]:
    """The nodes started with a movable clock (none unless the topology has ``clock_jumps``):
    the Airflow nodes, the topology's and any added since; not the infrastructure, nor the
    Kerberos pieces (the refreshers run Airflow, but with an environment of their own)."""
    if not cluster.topology.clock_jumps:
        return []
    other = {*cluster.topology.infra_nodes, *cluster.topology.kerberos_nodes}
    return [n for n in cluster.nodes if n not in other]
