"""A drill that reproduces a reported Airflow issue: its reference, the versions it affects,
the version that fixed it, and which of the drill's expectations fail when the reported
symptom shows (``symptom``). The drill's expectations say what *should* happen; on an
affected version the symptom's expectations fail, on a fixed one they pass.

:func:`cell` turns one run's verdict into a cell of the known-issues matrix (``testbed
known-issues``): ``reproduced`` (only symptom expectations failed), ``not reproduced`` /
``fixed`` (all passed; ``fixed`` from the fixed version on), ``inconclusive`` (a step failed, a
fault never went in, or another expectation failed: the run does not say). Pure.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from testbed.scenario.base import Strict, Version
from testbed.upgrade.versions import version_key

REFERENCE = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")  # owner/repo#N
CELLS = ("reproduced", "not reproduced", "fixed", "inconclusive")


class KnownIssue(Strict):
    reference: str  # e.g. apache/airflow#58570
    title: str
    affects: list[Version] = Field(min_length=1)  # built versions where it was reported
    fixed_in: Version | None = None  # the first built version with the fix
    # names of the drill's `expect` steps that fail when the reported symptom shows
    symptom: list[str] = Field(min_length=1)
    related: list[str] = Field(default_factory=list)  # other references (fix PRs, duplicates)

    @field_validator("reference")
    @classmethod
    def _reference(cls, ref: str) -> str:
        if not REFERENCE.match(ref):
            raise ValueError(f"{ref!r}: a reference is owner/repo#N, e.g. apache/airflow#58570")
        return ref

    def versions(self) -> list[str]:
        """The versions the matrix runs by default: the newest affected one, and the fixed one
        (where there is one)."""
        out = [max(self.affects, key=version_key)]
        return out + ([self.fixed_in] if self.fixed_in else [])

    def judge(self, version: str, verdict: Any) -> dict[str, Any]:
        """What a verdict carries of this issue on ``version`` (:attr:`Verdict.known_issue`)."""
        cell, why = self.cell(version, verdict)
        affected = version in self.affects
        return {"reference": self.reference, "version": version, "affected": affected,
                "cell": cell, "why": why}  # fmt: skip

    def cell(self, version: str, verdict: Any) -> tuple[str, str]:
        """``(cell, why)`` for one run of the drill on ``version`` (its :class:`Verdict`)."""
        if verdict.interrupted or verdict.failed_steps:
            step = (verdict.failed_steps or [{}])[0]
            why = f"{step.get('action', '')} {step.get('name') or ''}: {step.get('error', '')}"
            return "inconclusive", f"the run did not complete: {why.strip()}"[:400]
        failed = [e for e in verdict.expectations if not e["ok"]]
        names = {e["name"] for e in failed}
        if not names:
            fixed = self.fixed_in and version_key(version) >= version_key(self.fixed_in)
            return ("fixed" if fixed else "not reproduced"), "every expectation held"
        if names <= set(self.symptom):
            return "reproduced", "; ".join(f"{e['name']}: {e['detail']}" for e in failed)[:400]
        other = ", ".join(sorted(names - set(self.symptom)))
        return "inconclusive", f"expectations other than the symptom failed: {other}"
