"""The pytest plugin's pure parts: scenario tests are ordered last, a failed scenario test's
report carries the verdict and where the evidence is, the marker is required, and the next
cluster is booted ahead only for a test this process will run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import json, pytest
from types import SimpleNamespace
from testbed.pytest_plugin import RECORD
from testbed.scenario.verdict import Verdict

@pytest.fixture
def recorded(request, tmp_path):
    folder = tmp_path / "drill-1"
    folder.mkdir()
    (folder / "history.jsonl").write_text(
        json.dumps({"seq": 0, "kind": "step", "wall": 1.0, "mono": 1.0, "action": "wait"}) + "\\n")
    verdict = Verdict("drill", ok=False, expectations=[
        {"name": "flip", "check": "health_flipped", "ok": False, "detail": "never flipped"}])
    cluster = SimpleNamespace(nodes={})
    request.node.stash.setdefault(RECORD, []).append((verdict, folder, cluster))
    return verdict
"""


def test_a_failed_scenario_test_reports_its_verdict_and_evidence(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        def test_drill(recorded):
            assert recorded.ok
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*testbed drill*",
            "FAIL  flip: never flipped",
            "history: *drill-1/history.jsonl",
            "timeline:",
            "* step None wait*",
        ]
    )


def test_scenario_tests_run_last_and_need_a_marker(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.scenario()
        def test_a(testbed_verdict):
            pass

        def test_b():
            pass
        """
    )
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_b PASSED*", "*test_a ERROR*"])
    result.stdout.fnmatch_lines(["*needs @pytest.mark.scenario*"])


def test_junitxml_carries_the_record_report_and_expectations(pytester):
    pytester.makeconftest(
        CONFTEST.replace(
            "    return verdict",
            "    from testbed.pytest_plugin import _properties\n"
            "    verdict.findings = [{'name': 'api answers', 'detail': 'no answer for 3s'}]\n"
            "    _properties(request.node, verdict, folder)\n    return verdict",
        )
    )
    pytester.makepyfile("def test_drill(recorded):\n    assert recorded.ok\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    import xml.etree.ElementTree as ET

    props = {
        p.get("name"): p.get("value") for p in ET.parse(pytester.path / "out.xml").iter("property")
    }
    assert props["testbed_report"].endswith("drill-1/report.html")
    assert props["expect: flip"] == "FAIL never flipped"
    assert props["finding: api answers"] == "no answer for 3s"


class _Item:
    def __init__(self, name: str, group: str | None) -> None:
        self.name = name
        self.marks = [pytest.mark.xdist_group(group).mark] if group else []

    def get_closest_marker(self, name):
        return next((m for m in self.marks if m.name == name), None)


def _request(node, items, worker: bool, dist: str = "no"):
    # as xdist sets a worker up (remote.setup_config): its own dist is "no", the controller's
    # loadgroup is an option of its own
    option = SimpleNamespace(
        dist="no" if worker else dist, loadgroup=worker and dist == "loadgroup"
    )
    config = SimpleNamespace(
        getoption=lambda name, default=None: getattr(option, name), option=option
    )
    if worker:
        config.workerinput = {"workerid": "gw0"}
    return SimpleNamespace(node=node, session=SimpleNamespace(items=items), config=config)


def test_the_tests_that_follow_in_this_process():
    from testbed.pytest_plugin import _following

    a, b, c, d = (
        _Item("a", "drills"),
        _Item("b", "upgrades"),
        _Item("c", "drills"),
        _Item("d", None),
    )
    items = [a, b, c, d]
    assert _following(_request(a, items, worker=False)) == [b, c, d]  # one process: all of them
    # under loadgroup a group runs whole on one worker: its later tests follow, in order
    assert _following(_request(a, items, worker=True, dist="loadgroup")) == [c]
    assert _following(_request(d, items, worker=True, dist="loadgroup")) == []  # no group
    assert _following(_request(a, items, worker=True, dist="load")) == []  # any worker's
    assert _following(_request(_Item("x", "drills"), items, worker=False)) == []  # not collected
