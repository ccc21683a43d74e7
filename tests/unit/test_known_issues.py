"""The known-issues pack: a drill's ``known_issue`` is validated before anything boots (its
symptom names expectations of the drill, its fix comes after what it affects), each run is
judged into a matrix cell from its verdict alone, and the matrix runs each drill on its newest
affected version and its fixed one (no Docker)."""

from __future__ import annotations

import re

import pytest

from testbed import known_issues as K
from testbed.core.errors import ScenarioError
from testbed.scenario.known_issue import KnownIssue
from testbed.scenario.load import from_data
from testbed.scenario.verdict import Verdict

ISSUE = {
    "reference": "apache/airflow#58570",
    "title": "a task run twice",
    "affects": ["3.1.7", "3.1.8"],
    "fixed_in": "3.2.2",
    "symptom": ["adopted"],
}


def _drill(**issue) -> dict:
    return {
        "name": "known_x",
        "known_issue": {**ISSUE, **issue},
        "steps": [
            {"trigger": {"name": "r", "dag": "long_task"}},
            {"expect": {"name": "adopted", "check": "no_task_lost"}},
            {"expect": {"name": "no loss", "check": "no_task_lost"}},
            {"expect": {"name": "a note", "check": "no_task_lost", "finding": True}},
        ],
    }


@pytest.mark.parametrize(
    ("issue", "message"),
    [
        ({"symptom": ["adoptd"]}, "no expectation named ['adoptd']; named: adopted, no loss"),
        ({"symptom": ["a note"]}, "no expectation named ['a note']"),  # a finding judges nothing
        ({"fixed_in": "3.1.8"}, "it must be newer than every affected version"),
        ({"reference": "58570"}, "a reference is owner/repo#N"),
        ({"affects": []}, "affects"),
        ({"affects": ["2.10.5"]}, "affects.0"),
    ],
)
def test_a_known_issue_that_cannot_be_judged_is_refused_before_boot(issue, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        from_data(_drill(**issue), "known_x.yaml")


def _verdict(failed: tuple[str, ...] = (), steps: tuple[str, ...] = ()) -> Verdict:
    names = ("adopted", "no loss")
    return Verdict(
        scenario="known_x",
        ok=not failed and not steps,
        expectations=[{"name": n, "ok": n not in failed, "detail": f"{n} said"} for n in names],
        failed_steps=[{"action": "fault", "name": s, "error": "never injected"} for s in steps],
    )


@pytest.mark.parametrize(
    ("version", "verdict", "cell", "why"),
    [
        ("3.1.8", _verdict(("adopted",)), "reproduced", "adopted: adopted said"),
        ("3.2.2", _verdict(), "fixed", "every expectation held"),
        ("3.3.2", _verdict(), "fixed", "every expectation held"),
        ("3.1.8", _verdict(), "not reproduced", "every expectation held"),
        ("3.1.8", _verdict(("adopted", "no loss")), "inconclusive", "other than the symptom"),
        ("3.1.8", _verdict(("adopted",), ("crash",)), "inconclusive", "crash: never injected"),
    ],
)
def test_each_run_is_judged_into_a_cell_from_its_verdict(version, verdict, cell, why):
    got, because = KnownIssue(**ISSUE).cell(version, verdict)
    assert got == cell and why in because


@pytest.mark.parametrize(
    ("version", "failed", "expected", "code"),
    [
        ("3.1.8", ("adopted",), True, 0),  # reproduced where it was reported: expected
        ("3.3.2", ("adopted",), False, 1),  # reproduced after its fix: a regression, a failure
        ("3.1.8", ("adopted", "no loss"), False, 1),  # inconclusive: a failure
        ("3.1.8", (), False, 0),  # every expectation held: passed, not a known failure
    ],
)
def test_a_catalogue_run_counts_a_reproduced_issue_as_expected_only_where_it_affects(
    version, failed, expected, code
):
    from testbed.core import exit_codes as EXIT

    verdict = _verdict(failed)
    verdict.known_issue = KnownIssue(**ISSUE).judge(version, verdict)
    assert verdict.known_failure is expected and EXIT.of_verdict(verdict) == code


def test_the_matrix_runs_each_drill_on_its_newest_affected_and_its_fixed_version():
    drill = from_data(_drill(), "known_x.yaml")
    planned = K.plan([drill])
    assert [s.topology.airflow_version for s in planned] == ["3.1.8", "3.2.2"]
    assert all(s.steps == drill.steps for s in planned)
    asked = K.plan([drill], ("3.3.2",))
    assert [s.topology.airflow_version for s in asked] == ["3.3.2"]


def test_the_table_has_a_column_per_version_and_a_row_per_issue():
    drill = from_data(_drill(), "known_x.yaml")
    planned = K.plan([drill])
    found = K.cells(planned, [(_verdict(("adopted",)), "/r/1"), (_verdict(), "/r/2")])
    assert [(c.version, c.cell, c.record) for c in found] == [
        ("3.1.8", "reproduced", "/r/1"),
        ("3.2.2", "fixed", "/r/2"),
    ]
    assert K.table(found) == [
        ["issue", "drill", "3.1.8", "3.2.2"],
        ["apache/airflow#58570", "known_x", "reproduced", "fixed"],
    ]


def test_the_shipped_pack_is_found_and_each_drill_names_a_real_reference():
    pack = K.pack()
    assert len(pack) >= 2
    for drill in pack:
        assert drill.name.startswith("known_")
        assert drill.known_issue.reference in drill.description
    with pytest.raises(ScenarioError, match="no known-issue drill"):
        K.pack(["nope"])
