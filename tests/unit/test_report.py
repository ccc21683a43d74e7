"""The HTML report and the JUnit XML, from hand-written histories: no Docker, no browser."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from testbed.report import write_html, write_junit
from testbed.report.record import load_record
from testbed.report.timeline import RIGHT, WIDTH, X0
from testbed.scenario.verdict import Verdict, compute
from tests.unit.report_history import HOSTILE, ODD_KIND, Recorder, drill, write_record

SVG = "{http://www.w3.org/2000/svg}"


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs, self.children, self.data = tag, attrs, [], []

    def text(self) -> str:
        return "".join(self.data) + "".join(c.text() for c in self.children)

    def all(self, tag: str, cls: str | None = None) -> list[Node]:
        out = []
        for c in self.children:
            if c.tag == tag and (cls is None or cls in (c.attrs.get("class") or "").split()):
                out.append(c)
            out += c.all(tag, cls)
        return out


class Tree(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.root = Node("root", {})
        self.stack = [self.root]
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data):
        self.stack[-1].data.append(data)


@pytest.fixture
def report(tmp_path) -> tuple[Path, str]:
    folder = write_record(tmp_path / "run-1" / "scenarios" / "scheduler_hang-1", drill())
    out = write_html(folder)
    return out, out.read_text(encoding="utf-8")


def svg_of(html: str) -> ET.Element:
    """The timeline, which must be well-formed XML on its own."""
    match = re.search(r"<svg .*?</svg>", html, re.S)
    assert match, "no inline SVG"
    return ET.fromstring(match.group(0))


def lanes(svg: ET.Element) -> dict[str, ET.Element]:
    return {
        g.get("data-lane"): g for g in svg.iter(f"{SVG}g") if "lane" in g.get("class", "").split()
    }


def table_rows(html: str, cls: str) -> list[list[str]]:
    tables = Tree(html).root.all("table", cls)
    assert len(tables) == 1, f"one table {cls}"
    return [[td.text() for td in tr.all("td")] for tr in tables[0].all("tbody")[0].all("tr")]


def test_the_report_is_one_file_beside_the_history(report):
    out, html = report
    assert out.name == "report.html" and out.parent.name == "scheduler_hang-1"
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert re.findall(r"https?://", html) == ["http://"]  # only the SVG namespace
    assert set(re.findall(r"url\(([^)]*)\)", html)) == {"#noanswer"}  # the hatch, nothing fetched


def test_header_names_scenario_verdict_run_and_wall_time(report):
    _, html = report
    h1 = Tree(html).root.all("h1")[0].text()
    assert "scheduler_hang" in h1 and "FAILED" in h1 and "LEFT BROKEN" in h1
    meta = Tree(html).root.all("p", "meta")[0].text()
    assert "r-abc" in meta and "59.5 s" in meta and "2025-06-15" in meta


def test_one_lane_per_probe_target_task_container_and_other_kind(report):
    svg = svg_of(report[1])
    names = list(lanes(svg))
    for lane in (
        "api_health · api-server",
        "scheduler_health · scheduler",
        "jobs_check · scheduler",
        "task long.work",
        "remote_log · minio",
        "container scheduler",
        "container worker-1",
        "trigger",
        "weird_kind",
        "heal_failed_placeholder",
        "diagnostics",
    ):
        assert lane in names
    assert names.index("api_health · api-server") < names.index("task long.work")
    assert names.index("task long.work") < names.index("container api-server")
    titles = [t.text for g in lanes(svg).values() for t in g.iter(f"{SVG}text")][:3]
    assert titles[0] == "api_health · api-server"


def marks(lane: ET.Element) -> list[tuple[str, float, float, str]]:
    """(state, x, width, tooltip) of a lane's marks."""
    out = []
    for r in lane.iter(f"{SVG}rect"):
        state = next(c for c in r.get("class", "").split() if c.startswith("state-"))
        out.append(
            (state[6:], float(r.get("x")), float(r.get("width")), r.find(f"{SVG}title").text)
        )
    return out


def x_of(t: float, span: float = 59.5) -> float:
    return X0 + t / span * (WIDTH - X0 - RIGHT)


def test_states_are_coloured_and_no_answer_is_its_own_mark(report):
    by_lane = lanes(svg_of(report[1]))
    api = marks(by_lane["api_health · api-server"])
    assert [m[0] for m in api] == ["ok", "bad", "ok"]  # consecutive equal observations merged
    assert api[1][1] == pytest.approx(x_of(30.1), abs=0.2)
    sched = marks(by_lane["scheduler_health · scheduler"])
    assert [m[0] for m in sched] == ["ok", "noanswer", "ok"]
    assert "timeout" in sched[1][3] and sched[1][2] == pytest.approx(x_of(40.2) - x_of(20.2), 0.5)
    rects = by_lane["scheduler_health · scheduler"].iter(f"{SVG}rect")
    assert "url(#noanswer)" in [r.get("fill") for r in rects]
    jobs = [m[0] for m in marks(by_lane["jobs_check · scheduler"])]
    assert jobs == ["bad", "error", "ok"]
    task = [m[0] for m in marks(by_lane["task long.work"])]
    assert task == ["pending", "running", "bad"]
    container = [m[0] for m in marks(by_lane["container scheduler"])]
    assert container == ["ok", "paused", "ok"]


def test_fault_bands_run_from_inject_to_heal_or_to_the_end(report):
    svg = svg_of(report[1])
    bands = {g.get("data-fault"): g for g in svg.iter(f"{SVG}g") if g.get("data-fault")}
    assert set(bands) == {"freeze", "cut"}
    freeze = bands["freeze"].find(f"{SVG}rect")
    assert float(freeze.get("x")) == pytest.approx(x_of(20), abs=0.2)
    assert float(freeze.get("width")) == pytest.approx(x_of(40.4) - x_of(20), abs=0.3)
    labels = {k: "".join(t.text for t in g.iter(f"{SVG}text")) for k, g in bands.items()}
    assert labels["freeze"] == "freeze: hang → scheduler"
    assert labels["cut"] == "cut: link → scheduler->postgres (never healed)"
    cut = bands["cut"].find(f"{SVG}rect")
    assert float(cut.get("x")) + float(cut.get("width")) == pytest.approx(WIDTH - RIGHT, abs=0.2)
    failed_heal = bands["cut"].find(f"{SVG}circle/{SVG}title").text
    assert "heal failed" in failed_heal and "connection refused" in failed_heal


def test_steps_are_marked_and_failed_steps_are_red(report):
    svg = svg_of(report[1])
    steps = [g for g in svg.iter(f"{SVG}g") if g.get("class", "").startswith("step")]
    assert [g.get("data-index") for g in steps] == [str(i) for i in range(9)]
    failed = [g for g in steps if "failed" in g.get("class")]
    assert [g.get("data-index") for g in failed] == ["8"]
    assert "run long is failed" in failed[0].find(f"{SVG}title").text
    labels = [t for t in svg.iter(f"{SVG}tspan")]
    red = [t.text for t in labels if "failed" in t.get("class")]
    assert red == ["#8 wait long"] and "#3 fault freeze" in [t.text for t in labels]


def test_expectations_are_marked_with_their_measured_delay(report):
    svg = svg_of(report[1])
    exps = [g for g in svg.iter(f"{SVG}g") if g.get("class", "").startswith("expectation")]
    kinds = [g.get("class").split()[1] for g in exps]
    assert kinds == ["pass", "pass", "pass", "fail", "finding"]
    flip = exps[2].find(f"{SVG}title").text
    assert "flip" in flip and "measured delay 10.2s" in flip
    circle = exps[2].find(f"{SVG}circle")
    assert float(circle.get("cx")) == pytest.approx(x_of(31), abs=0.2)


def test_text_from_the_history_is_escaped_everywhere(report):
    _, html = report
    assert "<script>" not in html and "<img" not in html and "<i>" not in html
    assert ODD_KIND in lanes(svg_of(html))  # its lane, titled with the kind as text
    assert html.count("&lt;script&gt;") >= 3  # expectation detail, two unknown kinds
    svg_of(html)  # and the SVG still parses
    rows = table_rows(html, "expectations")
    assert any(HOSTILE in cell for row in rows for cell in row)  # as text, intact


def test_tables_of_expectations_findings_steps_config_heal(report):
    _, html = report
    expectations = table_rows(html, "expectations")
    assert [r[2] for r in expectations] == [
        "overrides in force",
        "scheduler healthy",
        "flip",
        "recovered",
    ]
    assert [r[4] for r in expectations] == ["PASS", "PASS", "PASS", "FAIL"]
    assert json.loads(expectations[2][6]) == {"delay": 10.2}
    findings = table_rows(html, "findings")
    assert [(r[2], r[4]) for r in findings] == [("attempt 1 log", "NOTE not ok")]
    steps = table_rows(html, "failed-steps")
    assert [r[1:3] for r in steps] == [["8", "wait"], ["—", "aborted"]]
    assert table_rows(html, "config") == [
        ["scheduler.scheduler_health_check_threshold", "20", "20"]
    ]
    assert table_rows(html, "heal") == [["toxic down on scheduler->postgres"]]
    assert table_rows(html, "heal-failures")[0][1:] == [
        "cut",
        "link",
        "scheduler->postgres",
        "toxiproxy: connection refused",
    ]
    other = table_rows(html, "other")
    assert [r[1] for r in other] == ["heal_failed_placeholder", ODD_KIND, "weird_kind"]


def test_diagnostics_and_container_logs_are_relative_links(report):
    out, html = report
    tree = Tree(html).root
    diag = [a.attrs["href"] for t in tree.all("table", "diagnostics") for a in t.all("a")]
    assert diag == ["diagnostics/scheduler-py-spy.txt"]
    assert (out.parent / diag[0]).is_file()
    logs = [a.attrs["href"] for t in tree.all("table", "logs") for a in t.all("a")]
    assert logs == ["logs/scheduler.log", "logs/worker-1.log"]
    run_logs = out.parent.parent.parent / "logs"
    run_logs.mkdir()
    (run_logs / "postgres.log").write_text("pg\n")
    tree = Tree(write_html(out.parent).read_text()).root
    logs = [a.attrs["href"] for t in tree.all("table", "logs") for a in t.all("a")]
    assert logs[-1] == "../../logs/postgres.log" and (out.parent / logs[-1]).is_file()


def test_a_link_cannot_escape_into_a_script_url(tmp_path):
    r = Recorder()
    r.add(0, "scenario", phase="start", config={})
    r.add(1, "diagnostics", node="x", reason="r", path="javascript:alert(1)")
    html = write_html(write_record(tmp_path / "s-1", r.sorted(), logs=False)).read_text()
    hrefs = [a.attrs["href"] for a in Tree(html).root.all("a")]
    assert hrefs == ["javascript%3Aalert%281%29"]  # a relative file name


def test_no_logs_folder_means_no_log_links(tmp_path):
    html = write_html(write_record(tmp_path / "s-1", drill(), logs=False)).read_text()
    assert Tree(html).root.all("table", "logs") == []
    assert "no container logs saved" in html


def test_verdict_json_is_used_when_present_else_computed(tmp_path):
    events = drill()
    folder = write_record(tmp_path / "scheduler_hang-1", events)
    assert load_record(folder).verdict == compute("scheduler_hang", events)
    Verdict("scheduler_hang", ok=True, wall_seconds=12.0).save(folder / "verdict.json")
    html = write_html(folder).read_text()
    assert "PASSED" in Tree(html).root.all("h1")[0].text() and "12 s" in html


def test_degenerate_histories_still_make_a_report(tmp_path):
    empty = tmp_path / "empty-1"
    empty.mkdir()
    html = write_html(empty).read_text()
    assert "empty" in html and "FAILED" in html and "<svg" in html
    broken = write_record(tmp_path / "broken-1", drill()[:5], logs=False)
    with (broken / "history.jsonl").open("a") as fh:
        fh.write('{"seq": 99, "kind": "observ')  # a half-written last line
    html = write_html(broken).read_text()
    assert "unreadable lines skipped" in html
    odd = Recorder()
    odd.add(0, "scenario", phase="start")
    odd.add(1, "observation", probe="new_probe", target=None, value=[1, 2], error=None)
    odd.add(2, "fault", phase="heal", name="never-injected")
    odd.add(3, "step", phase="end", index=None, action=None, error="x")
    odd.add(4, "expectation", name="bare")  # no ok, no detail
    html = write_html(write_record(tmp_path / "odd-1", odd.sorted(), logs=False)).read_text()
    assert "new_probe · None" in lanes(svg_of(html))


# -- JUnit --------------------------------------------------------------------------------------
def junit(tmp_path, *records: tuple[str, list[dict]]) -> ET.Element:
    results = []
    for name, events in records:
        folder = write_record(tmp_path / f"{name}-1", events, logs=False)
        results.append((compute(name, events), folder))
    return ET.parse(write_junit(results, tmp_path / "out" / "junit.xml")).getroot()


def cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in suite.iter("testcase")}


def test_junit_one_case_per_expectation_step_failure_and_the_heal_audit(tmp_path):
    root = junit(tmp_path, ("scheduler_hang", drill()))
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "scheduler_hang"
    got = cases(suite)
    assert list(got) == [
        "overrides in force",
        "scheduler healthy",
        "flip",
        "recovered",
        "step 8 wait",
        "heal_audit",
    ]
    assert (suite.get("tests"), suite.get("failures")) == ("6", "3")
    assert (root.get("tests"), root.get("failures")) == ("6", "3")
    failed = {n for n, c in got.items() if c.find("failure") is not None}
    assert failed == {"recovered", "step 8 wait", "heal_audit"}
    assert {c.get("classname") for c in got.values()} == {"scheduler_hang"}
    assert float(got["flip"].get("time")) == pytest.approx(10.2)
    assert got["recovered"].find("failure").get("message") == f"never recovered {HOSTILE}"
    assert "run long is failed" in got["step 8 wait"].find("failure").get("message")
    assert "toxic down" in suite.find("system-err").text
    assert "toxiproxy: connection refused" in suite.find("system-err").text


def test_junit_findings_are_properties_and_output_never_failures(tmp_path):
    (suite,) = junit(tmp_path, ("scheduler_hang", drill())).findall("testsuite")
    assert "attempt 1 log" not in cases(suite)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["finding: attempt 1 log"] == "not ok: attempt 1 log not in MinIO"
    assert "FINDING attempt 1 log (not ok)" in suite.find("system-out").text


def clean_drill() -> list[dict]:
    r = Recorder()
    r.add(0, "scenario", phase="start", config={}, scenario="ok")
    r.step(0, "expect", "up", 1, 2, check="healthy")
    r.expect(2, "up", "healthy", True, "healthy", delay=1.5)
    r.add(3, "heal_audit", problems=[])
    return r.sorted()


def test_junit_clean_run_has_no_failures_and_suites_add_up(tmp_path):
    aborted = clean_drill()[:-1]
    aborted.append({**aborted[-1], "kind": "aborted", "error": "scenario timeout of 5s reached"})
    root = junit(tmp_path, ("ok", clean_drill()), ("slow", aborted))
    ok, slow = root.findall("testsuite")
    assert (ok.get("tests"), ok.get("failures")) == ("2", "0")
    assert ok.find("system-err") is None
    assert list(cases(slow)) == ["up", "step 1 aborted", "heal_audit"]
    assert "timeout" in cases(slow)["step 1 aborted"].find("failure").get("message")
    assert "no heal audit recorded" in cases(slow)["heal_audit"].find("failure").text
    assert (root.get("tests"), root.get("failures")) == ("5", "2")


def test_junit_a_failed_verdict_always_has_a_failure_and_text_is_xml_safe(tmp_path):
    r = Recorder()
    r.add(0, "scenario", phase="start", config={})
    r.add(1, "heal_audit", problems=[])
    nothing = r.sorted()
    interrupted = [*nothing, {**nothing[-1], "kind": "interrupted", "index": 0}]
    root = junit(tmp_path, ("empty", nothing), ("stopped", interrupted))
    empty, stopped = (cases(s) for s in root.findall("testsuite"))
    assert list(empty) == ["heal_audit", "verdict"]  # no expectation: failed, and says so
    assert "no expectation" in empty["verdict"].find("failure").text
    assert list(stopped) == ["step 0 interrupted", "heal_audit"]
    assert stopped["step 0 interrupted"].find("failure") is not None
    ansi = clean_drill()
    (exp,) = [e for e in ansi if e["kind"] == "expectation"]
    exp.update(ok=False, detail="boom \x1b[31mred\x1b[0m <b>&</b>")
    root = junit(tmp_path / "x", ("ansi", ansi))
    message = cases(root.find("testsuite"))["up"].find("failure").get("message")
    assert message == "boom [31mred[0m <b>&</b>"


def test_junit_a_reproduced_known_issue_is_skipped_not_failed(tmp_path):
    events = clean_drill()
    (exp,) = [e for e in events if e["kind"] == "expectation"]
    exp.update(ok=False, detail="1 of 9 api_health observations not healthy")
    folder = write_record(tmp_path / "known-1", events, logs=False)
    cell = {"reference": "apache/airflow#1", "version": "3.2.2", "affected": True}
    out = tmp_path / "junit.xml"
    for c, failures, skipped in (("reproduced", "0", "1"), ("inconclusive", "1", "0")):
        verdict = replace(compute("known", events), known_issue={**cell, "cell": c, "why": ""})
        suite = ET.parse(write_junit([(verdict, folder)], out)).getroot().find("testsuite")
        assert (suite.get("failures"), suite.get("skipped")) == (failures, skipped)
    verdict = replace(compute("known", events), known_issue={**cell, "cell": "reproduced"})
    up = cases(ET.parse(write_junit([(verdict, folder)], out)).getroot().find("testsuite"))["up"]
    assert up.find("failure") is None
    message = up.find("skipped").get("message")
    assert message == "KNOWN ISSUE apache/airflow#1 reproduced on 3.2.2: " + exp["detail"]


def test_mapped_task_lanes_are_in_map_index_order(tmp_path):
    r = Recorder()
    r.add(0, "scenario", phase="start", config={})
    r.add(0.5, "trigger", name="fan", dag_id="d", run_id="m1")
    for m in (10, 2, 1):
        value = {"dag_id": "d", "run_id": "m1", "task_id": "w", "map_index": m, "state": "queued"}
        r.add(1, "observation", probe="task_instance", target="d", value=value, error=None)
    html = write_html(write_record(tmp_path / "fan-1", r.sorted(), logs=False)).read_text()
    assert list(lanes(svg_of(html))) == [
        "task fan.w[1]",
        "task fan.w[2]",
        "task fan.w[10]",
        "trigger",
    ]
