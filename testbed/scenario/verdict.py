"""The verdict of a scenario run, computed from its history alone: every expectation (not
findings) held and every step completed. Heal-audit problems are reported beside it, never
instead of it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Verdict:
    scenario: str
    ok: bool
    expectations: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    failed_steps: list[dict[str, Any]] = field(default_factory=list)
    heal_problems: list[str] = field(default_factory=list)
    heal_failures: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    interrupted: str | None = None  # "at step N (during ...)": a partial verdict
    # a known-issue drill's cell on the version it ran: {"reference", "version", "affected",
    # "cell", "why"} (testbed.scenario.known_issue)
    known_issue: dict[str, Any] | None = None

    @property
    def known_failure(self) -> bool:
        """Failed only as the reported issue it reproduces fails, on a version it affects: the
        issue reproduced, which a catalogue run counts as expected (not as a failure)."""
        k = self.known_issue
        return bool(not self.ok and k and k["affected"] and k["cell"] == "reproduced")

    @property
    def clean(self) -> bool:
        """Passed (or failed only as a known issue does) and left nothing broken."""
        held = self.ok or self.known_failure
        return held and not self.heal_problems and not self.heal_failures

    def lines(self) -> list[str]:
        out = []
        for e in self.expectations:
            mark = "PASS" if e["ok"] else "FAIL"
            out.append(f"{mark}  {e['name']}: {e['detail']}")
        out += [f"NOTE  {f['name']}: {f['detail']}" for f in self.findings]
        out += [
            f"STEP  {s['action']} {s.get('name') or ''}: {s['error']}" for s in self.failed_steps
        ]
        out += [f"HEAL  {h['name']}: {h['error']}" for h in self.heal_failures]
        if self.interrupted:
            out.append(f"STOP  interrupted {self.interrupted}: a partial verdict")
        out += [f"LEFT  {p}" for p in self.heal_problems]
        return out

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self) | {"clean": self.clean}, indent=2, default=str))
        return path


def compute(scenario: str, events: list[dict[str, Any]]) -> Verdict:
    """Passed: at least one expectation, all held, no step failed, nothing aborted."""
    exps = [e for e in events if e["kind"] == "expectation"]
    failed = [
        e for e in events if e["kind"] == "step" and e.get("phase") == "end" and e.get("error")
    ]
    aborted = [e for e in events if e["kind"] == "aborted"]
    # a failed step also aborts the scenario (the same error): the abort is shown only when
    # no step failed (the scenario timeout); a delayed fault that was never injected, always
    late = [
        {**e, "action": "fault"}
        for e in events
        if e["kind"] == "fault" and e.get("phase") == "inject_failed"
    ]
    stops = [e for e in events if e["kind"] == "interrupted"]
    audits = [e for e in events if e["kind"] == "heal_audit"]
    heal_failures = [e for e in events if e["kind"] == "fault" and e.get("phase") == "heal_failed"]
    expectations = [_summary(e) for e in exps if not e.get("finding")]
    findings = [_summary(e) for e in exps if e.get("finding")]
    starts = [e for e in events if e["kind"] == "scenario"]
    wall = events[-1]["mono"] - starts[0]["mono"] if starts and events else 0.0
    return Verdict(
        scenario=scenario,
        ok=bool(expectations)
        and all(e["ok"] for e in expectations)
        and not (failed or aborted or stops or late),
        expectations=expectations,
        findings=findings,
        failed_steps=[
            {"action": e.get("action", "aborted"), "name": e.get("name"), "error": e["error"]}
            for e in [*(failed or aborted), *late]
        ],
        heal_problems=audits[-1]["problems"] if audits else ["no heal audit recorded"],
        heal_failures=[{"name": e["name"], "error": e["error"]} for e in heal_failures],
        wall_seconds=round(wall, 1),
        interrupted=_interruption(stops[0]) if stops else None,
    )


def _interruption(e: dict[str, Any]) -> str:
    return f"at step {e.get('index', '?')} (during {e.get('during', 'a step')})"


def _summary(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": e["name"],
        "check": e.get("check"),
        "ok": e["ok"],
        "detail": e["detail"],
        "measurements": e.get("measurements", {}),
    }
