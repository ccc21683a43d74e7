"""Reuse of one booted cluster across scenarios: the same topology gets the same cluster,
reset between scenarios (see :mod:`testbed.reset`); a different topology replaces it.

A pool that knows the next scenario boots its cluster ahead (:meth:`ClusterPool.boot_ahead`):
in a background thread, at a low CPU weight, while the current scenario runs, whenever the
current cluster will not serve the next one (another topology, or a scenario that leaves no
cluster a reset can bring back: an upgrade, a migration, a restore), on either backend (a
backend whose ``boots_ahead`` is false never boots beside a drill). Drills mostly wait on
Airflow's timers; the boot takes the CPU they leave idle. A cluster booted
ahead that is never asked for is removed with the pool.

Used by ``testbed run`` with several files and by the pytest plugin (one pool per xdist
worker, so a worker never boots a cluster twice for the same topology).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from testbed.backends import backend_for
from testbed.cluster import BOOT_WEIGHT, Cluster
from testbed.core import progress
from testbed.images import build as image_build
from testbed.images.steps import exists_name
from testbed.reset import reset
from testbed.topology import Topology

if TYPE_CHECKING:
    from testbed.scenario.model import Scenario

# Steps after which no reset brings a cluster back (see testbed.upgrade.runner: the schema or
# the nodes' versions changed), so the next scenario needs a fresh cluster even of one topology.
UNRESETTABLE = frozenset({"upgrade", "migrate", "restore"})
CANCEL_JOIN = 120.0  # seconds a cancelled boot ahead gets to stop before its cluster is removed


def images_present(scenario: Scenario) -> bool:
    """Every image ``scenario``'s cluster boots from is built: its Airflow images and its
    backend's own (the Kubernetes node); a boot ahead never builds one beside a drill."""
    backend = backend_for(scenario.topology.build())
    return image_build.present_for([scenario]) and all(map(exists_name, backend.images()))


def keeps_cluster(scenario: Scenario) -> bool:
    """Whether ``scenario`` leaves its cluster for a reset to bring back (a prediction: a pool
    whose guess was wrong boots as it would have without one)."""
    if not backend_for(scenario.topology.build()).reusable:
        return False
    return not any(
        getattr(s, "action", None) in UNRESETTABLE
        or (getattr(s, "action", None) == "add_node" and s.version)  # a node of another version
        for s in scenario.steps
    )


class _Ahead:
    """A cluster booting in a background thread; its error, if the boot failed."""

    def __init__(self, topology: Topology, detached: bool) -> None:
        self.topology = topology
        self.cluster = Cluster(topology, detached=detached, boot_weight=BOOT_WEIGHT)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._boot, name="testbed-boot-ahead", daemon=True)
        self.thread.start()

    def _boot(self) -> None:
        try:
            self.cluster.up()
        except BaseException as exc:  # the boot removed what it made; get() boots anew
            self.error = exc

    def wait(self) -> Cluster | None:
        """The booted cluster, once its boot ended; None if the boot failed. A boot still going
        gets the default CPU weight first: nothing runs beside it any more but the other
        lanes, and a lane waiting on a boot held at 1/8 of their share idles (measured: a
        boot ahead still under way when its drill came took 110-124 s against 25-45 s)."""
        if self.thread.is_alive():
            self.cluster.promote()
        while self.thread.is_alive():
            self.thread.join(1.0)  # in steps: Ctrl-C in the main thread is not held up
        if self.error is not None:
            progress.warn(f"the boot ahead of {self.cluster.run_id} failed: {self.error}")
            return None
        return self.cluster

    def cancel(self, reason: str) -> list[str]:
        """Stop the boot (its waits end at their next look) and remove the cluster. A boot
        still going after :data:`CANCEL_JOIN` (a wait that does not look, e.g. a migration)
        may create a node after the removal listed the run's objects: waited for once more,
        then removed again."""
        self.cluster.cancel()
        self.thread.join(CANCEL_JOIN)
        failed = self.cluster.down(reason=reason)
        if self.thread.is_alive():
            self.thread.join(CANCEL_JOIN)
            failed = self.cluster.down(reason=reason)
        return failed


class ClusterPool:
    def __init__(self, *, detached: bool = False, ahead: bool = True) -> None:
        self.cluster: Cluster | None = None
        self.detached = detached
        self.ahead = ahead  # boot the next scenario's cluster ahead (boot_ahead); off: never
        self.used = False  # has a scenario run on the current cluster yet?
        self.reset_seconds: list[float] = []
        self._ahead: _Ahead | None = None

    def get(self, topology: Topology, boot_weight: int | None = None) -> Cluster:
        """A ready cluster of ``topology``: one booted ahead for it, the current one (reset) or
        a freshly booted one (at ``boot_weight``, see :class:`Cluster`)."""
        ahead = self._ahead_for(topology)
        reusable = self.cluster is not None and self.cluster.reusable
        if ahead is None and reusable and self.cluster.topology == topology:
            if not self.used:
                self.used = True
                return self.cluster
            try:
                self.reset_seconds.append(reset(self.cluster))
                return self.cluster
            except Exception as exc:  # a cluster that cannot be reset is replaced, not reused
                progress.warn(f"reset of {self.cluster.run_id} failed ({exc}); booting anew")
        self._drop_current("pool closed")  # while a boot ahead goes on: its CPU is freed
        # the boot ahead stays the pool's until it is up: Ctrl-C while it is waited for
        # leaves it to close(), which cancels and removes it
        booted = ahead.wait() if ahead is not None else None
        self._ahead = None
        self.cluster = (
            booted or Cluster(topology, detached=self.detached, boot_weight=boot_weight).up()
        )
        self.used = True
        return self.cluster

    def boot_ahead(self, current: Scenario, upcoming: Scenario | None) -> None:
        """Start booting ``upcoming``'s cluster now if the cluster ``current`` runs on will not
        serve it; at most one boot ahead at a time."""
        if not self.ahead or upcoming is None or self._ahead is not None:
            return
        topology = upcoming.topology.build()
        ahead_ok = backend_for(topology).boots_ahead
        if not (ahead_ok and backend_for(current.topology.build()).boots_ahead):
            return  # a backend that cannot boot a second cluster beside a running one
        if not images_present(upcoming):
            return  # built at its turn, or still building in the background
        if (
            self.cluster is not None
            and self.cluster.topology == topology
            and self.cluster.reusable
            and keeps_cluster(current)
        ):
            return  # a reset serves it
        progress.step(f"booting the next scenario's cluster ahead ({upcoming.name})")
        self._ahead = _Ahead(topology, self.detached)

    def _ahead_for(self, topology: Topology) -> _Ahead | None:
        """The boot ahead for ``topology``, if there is one; one for another topology (a wrong
        guess) is cancelled and removed."""
        if self._ahead is not None and self._ahead.topology != topology:
            failed = self.discard_ahead(reason="booted ahead for another topology")
            if failed:
                progress.warn(f"teardown left: {'; '.join(failed)}")
        return self._ahead

    def discard_ahead(self, reason: str = "booted ahead, not used") -> list[str]:
        """Cancel and remove a cluster booted ahead; return what could not be removed. It stays
        the pool's until removed (a Ctrl-C meanwhile leaves it to the next close)."""
        if self._ahead is None:
            return []
        failed = self._ahead.cancel(reason=reason)
        self._ahead = None
        return failed

    def close(self, reason: str = "pool closed") -> list[str]:
        """Remove the current cluster and any booted ahead; return what could not be removed."""
        return self.discard_ahead(reason=f"{reason} (booted ahead, not used)") + (
            self._drop_current(reason)
        )

    def _drop_current(self, reason: str) -> list[str]:
        failed = self.cluster.down(reason=reason) if self.cluster is not None else []
        self.cluster, self.used = None, False
        return failed
