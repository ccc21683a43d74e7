"""A run's iptables rules on the host (the DOCKER-USER chain), tagged with the run's id: one
rule added, checked or deleted, and every rule of a run listed or deleted. Used by the
partition fault (:mod:`testbed.faults`), its heal audit, and a cluster's teardown and reset."""

from __future__ import annotations

import shlex
import subprocess

from testbed.core.errors import FaultError


def _comment(run_id: str) -> str:
    return f"testbed:{run_id}"


def tag(run_id: str) -> list[str]:
    """The match that marks a rule as the run's (what :func:`run_rules` finds)."""
    return ["-m", "comment", "--comment", _comment(run_id)]


def apply(op: str, rule: list[str], check: bool = True) -> int:
    """``iptables <op> <chain> <rest>``; a failure raises unless ``check`` is False."""
    chain, *rest = rule
    proc = subprocess.run(["iptables", op, chain, *rest], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise FaultError(f"iptables {op} {' '.join(rule)}: {proc.stderr.strip()}")
    return proc.returncode


def run_rules(run_id: str) -> list[str]:
    """This run's rules in the DOCKER-USER chain, as ``iptables -S`` prints them."""
    proc = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise FaultError(f"iptables rules could not be listed: {proc.stderr.strip()[:200]}")
    mark = _comment(run_id)
    return [ln for ln in proc.stdout.splitlines() if ln.startswith("-A ") and mark in ln]


def delete_run_rules(run_id: str) -> None:
    """Remove every iptables rule this run added (a reset's heal of any partition)."""
    for line in run_rules(run_id):
        apply("-D", shlex.split(line)[1:])  # -S quotes the comment: split like a shell
