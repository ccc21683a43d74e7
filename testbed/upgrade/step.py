"""One step of an upgrade plan: its phase, the action a drill carries out, the node it acts on,
and the line ``testbed upgrade-plan`` prints for it (:mod:`testbed.upgrade.plan`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    phase: str  # check | roll | drain | stop | backup | migrate | restore | start | verify
    action: str  # what the drill does: term, wait_idle, replace, wait_ready, stop, start, ...
    node: str | None
    detail: str

    def line(self, n: int) -> str:
        return f"{n:3}. {self.phase:8} {self.node or '-':14} {self.detail}"
