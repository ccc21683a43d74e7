"""The fault base class (Jepsen's nemesis): inject and heal, the heal idempotent and run even
when the body raised, both recorded in the run's history.

``with Hang(cluster, "scheduler"):`` injects on enter and heals on exit. A heal that fails is
recorded as ``heal_failed`` (and reported by the heal audit, :mod:`testbed.faults.audit`); it
never replaces the body's own exception. A family module subclasses :class:`Fault` with its
``kind`` and ``_inject``/``_heal``; :mod:`testbed.faults.registry` lists the kinds.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testbed.cluster import Cluster


class Fault:
    kind = "fault"

    def __init__(self, cluster: Cluster, target: str, *, name: str | None = None) -> None:
        self.cluster, self.target = cluster, target
        self.name = name or f"{self.kind}:{target}"
        self.injected = False
        self._lock = threading.Lock()  # a `for` timer and a heal step may race

    # subclasses implement these two
    def _inject(self) -> None:
        raise NotImplementedError

    def _heal(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {}

    def inject(self) -> Fault:
        """Inject under the fault's lock: a heal (the ``for`` timer's, or ``finish()``'s after
        an inject abandoned at its bound) waits for an inject under way, so the inject can
        never land after its heal."""
        with self._lock:
            self.cluster.history.append(
                "fault",
                phase="inject",
                name=self.name,
                fault=self.kind,
                target=self.target,
                **self.describe(),
            )
            self.injected = True
            self._inject()
        return self

    def heal(self) -> bool:
        """Undo the fault (idempotent). Returns False, and records why, when the heal failed."""
        with self._lock:
            return self._heal_once()

    def _heal_once(self) -> bool:
        if not self.injected:
            return True
        try:
            self._heal()
        except Exception as exc:  # recorded; must not hide the caller's verdict
            self.record("heal_failed", error=str(exc))
            return False
        self.injected = False
        self.record("heal")
        return True

    def record(self, phase: str, **fields: Any) -> None:
        """One ``fault`` event of this fault in the history."""
        self.cluster.history.append(
            "fault", phase=phase, name=self.name, fault=self.kind, target=self.target, **fields
        )

    def __enter__(self) -> Fault:
        return self.inject()

    def __exit__(self, *exc) -> None:
        self.heal()

    @property
    def container(self):
        return self.cluster.container(self.target)
