"""JUnit XML for CI systems: one ``<testsuite>`` per scenario verdict, one ``<testcase>`` per
expectation (findings are properties and ``system-out`` lines, never failures; a known issue's
symptom reproduced on a version it affects is ``<skipped>``, as an expected failure), one per failed
step, abort or interruption (``step <index> <action>``), and ``heal_audit``, which fails when
something was left broken (its problems also go to ``system-err``)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from testbed.report.record import Event, read_events
from testbed.scenario.verdict import Verdict

NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any, limit: int | None = None) -> str:
    """Text XML 1.0 can carry (control characters, e.g. a log's ANSI escapes, dropped)."""
    text = NOT_XML.sub("", value if isinstance(value, str) else json.dumps(value, default=str))
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def write_junit(results: list[tuple[Verdict, Path]], path: Path) -> Path:
    """Write the JUnit XML of ``(verdict, record folder)`` pairs to ``path``."""
    root = ET.Element("testsuites", name="testbed")
    suites = [suite(verdict, Path(folder)) for verdict, folder in results]
    root.extend(suites)
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.set("time", f"{sum(v.wall_seconds for v, _ in results):.1f}")
    ET.indent(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def suite(verdict: Verdict, folder: Path) -> ET.Element:
    events, _ = read_events(folder / "history.jsonl")
    el = ET.Element("testsuite", name=xml_text(verdict.scenario))
    el.append(properties(verdict, folder))
    known = known_reason(verdict)
    cases = [expectation_case(verdict.scenario, e, known) for e in verdict.expectations]
    cases += step_cases(verdict, events)
    cases.append(heal_case(verdict))
    if not verdict.ok and not known and not any(c.find("failure") is not None for c in cases):
        why = "no expectation recorded" if not verdict.expectations else "the verdict failed"
        text = "\n".join(verdict.lines()) or why
        cases.append(case(verdict.scenario, "verdict", f"scenario failed: {why}", text))
    el.extend(cases)
    el.set("tests", str(len(cases)))
    el.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    el.set("errors", "0")
    el.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    el.set("time", f"{verdict.wall_seconds:.1f}")
    ET.SubElement(el, "system-out").text = xml_text(out_lines(verdict, folder))
    if verdict.heal_problems or verdict.heal_failures:
        ET.SubElement(el, "system-err").text = xml_text(err_lines(verdict))
    return el


def case(
    classname: str, name: str, failure: str | None = None, text: str = "", time: float = 0.0
) -> ET.Element:
    el = ET.Element("testcase", classname=xml_text(classname), name=xml_text(name))
    el.set("time", f"{time:.3f}")
    if failure is not None:
        fail = ET.SubElement(el, "failure", message=xml_text(failure, 300))
        fail.text = xml_text(text)
    return el


def known_reason(verdict: Verdict) -> str | None:
    """Why a failed expectation is expected: the drill reproduced the issue it was written for."""
    if not verdict.known_failure or verdict.known_issue is None:
        return None
    k = verdict.known_issue
    return f"KNOWN ISSUE {k['reference']} reproduced on {k['version']}"


def expectation_case(scenario: str, e: dict[str, Any], known: str | None = None) -> ET.Element:
    measurements = e.get("measurements") or {}
    delay = measurements.get("delay")
    time = float(delay) if isinstance(delay, int | float) and delay >= 0 else 0.0
    text = str(e.get("detail", ""))
    if measurements:
        text += f"\nmeasurements: {json.dumps(measurements, default=str)}"
    failure = None if e.get("ok") else first_line(e.get("detail"), "failed")
    if failure is not None and known is not None:
        el = case(scenario, str(e.get("name")), None, text, time)
        skipped = ET.SubElement(el, "skipped", type="known-issue")
        skipped.set("message", xml_text(f"{known}: {failure}", 300))
        skipped.text = xml_text(text)
        return el
    return case(scenario, str(e.get("name")), failure, text, time)


def first_line(text: Any, default: str) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else default


def step_cases(verdict: Verdict, events: list[Event]) -> list[ET.Element]:
    """The verdict's failed steps (numbered as the history's failed step ends, in order) or
    aborts outside any step (numbered as the step that did not start), and interruptions."""
    ends = [e for e in events if e["kind"] == "step" and e.get("phase") == "end" and e.get("error")]
    not_started = len({e.get("index") for e in events if e["kind"] == "step"})
    out: dict[str, ET.Element] = {}
    for i, s in enumerate(verdict.failed_steps):
        index = ends[i].get("index") if i < len(ends) else not_started
        action, what = str(s.get("action")), f"{s.get('action')} {s.get('name') or ''}".strip()
        name = f"step {index} {action}"
        failure = first_line(s.get("error"), what)
        out.setdefault(name, case(verdict.scenario, name, failure, f"{what}: {s.get('error')}"))
    for e in events:
        if e["kind"] == "interrupted":
            name = f"step {e.get('index')} interrupted"
            out.setdefault(name, case(verdict.scenario, name, "interrupted", xml_text(e)))
    return list(out.values())


def heal_case(verdict: Verdict) -> ET.Element:
    if not (verdict.heal_problems or verdict.heal_failures):
        return case(verdict.scenario, "heal_audit")
    n = len(verdict.heal_problems) + len(verdict.heal_failures)
    return case(
        verdict.scenario, "heal_audit", f"{n} problem(s) left after healing", err_lines(verdict)
    )


def properties(verdict: Verdict, folder: Path) -> ET.Element:
    props = ET.Element("properties")
    pairs = [("record", str(folder)), ("ok", str(verdict.ok)), ("clean", str(verdict.clean))]
    pairs += [
        (f"finding: {f.get('name')}", f"{'ok' if f.get('ok') else 'not ok'}: {f.get('detail')}")
        for f in verdict.findings
    ]
    for name, value in pairs:
        ET.SubElement(props, "property", name=xml_text(name), value=xml_text(value, 1000))
    return props


def out_lines(verdict: Verdict, folder: Path) -> str:
    lines = [f"record: {folder}"]
    if (folder / "report.html").exists():
        lines.append(f"report: {folder / 'report.html'}")
    lines += [
        f"FINDING {f.get('name')} ({'ok' if f.get('ok') else 'not ok'}): {f.get('detail')}"
        + (f" {json.dumps(f['measurements'])}" if f.get("measurements") else "")
        for f in verdict.findings
    ]
    return "\n".join(lines + [""])


def err_lines(verdict: Verdict) -> str:
    lines = [f"LEFT  {p}" for p in verdict.heal_problems]
    lines += [f"HEAL FAILED  {h.get('name')}: {h.get('error')}" for h in verdict.heal_failures]
    return "\n".join(lines + [""])
