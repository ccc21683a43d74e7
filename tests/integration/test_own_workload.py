"""A user's own deployment drilled end to end on a real cluster: their DAG folder (with a helper
subpackage) and an extra package in a derived image; a DAG that fails to import is reported,
with its file and error, before the first step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from testbed.images import build as image_build
from testbed.images import catalog
from testbed.scenario.load import from_data, load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_deployment"
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-upgrades")]


def _events(verdict_folder: Path, kind: str) -> list[dict]:
    lines = (verdict_folder / "history.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def _last(request) -> tuple:
    """(verdict, record folder, cluster) of the test's last scenario."""
    from testbed.pytest_plugin import RECORD

    return request.node.stash[RECORD][-1]


def _last_record(request) -> Path:
    return _last(request)[1]


def test_own_deployment_drill(testbed_run_scenario, request):
    scenario = load(EXAMPLE / "drill.yaml")
    verdict = testbed_run_scenario(scenario)
    assert verdict.ok, "\n".join(verdict.lines())
    parsed = _events(_last_record(request), "dags_parsed")
    assert parsed and parsed[0]["files"] == ["banner_report.py", "nightly_etl.py"]
    topo = scenario.topology.build()
    ref = catalog.extra_ref(topo.airflow_version, ("pyfiglet==1.0.4",))
    cluster = _last(request)[2]
    for node in ("dag-processor", "worker-1", "worker-2"):  # every node runs the derived image
        assert ref.name in cluster.container(node).image.tags, node
    # the same inputs name the same derived image: a second build is a no-op
    again = image_build.ensure_extra((topo.airflow_version,), topo.requirements)
    assert again == [(ref, "present")]


def test_import_error_is_reported_before_the_first_step(testbed_run_scenario, request, tmp_path):
    shutil.copytree(EXAMPLE / "dags", tmp_path / "dags")
    (tmp_path / "dags" / "needs_pkg.py").write_text(
        "import not_a_real_package_xyz\nfrom airflow.sdk import dag\n\n\n"
        "@dag(schedule=None)\ndef needs_pkg():\n    pass\n\n\nneeds_pkg()\n"
    )
    scenario = from_data(
        {
            "name": "own_broken",
            "topology": {"workers": 1, "dags": "dags"},
            "steps": [
                {"trigger": {"name": "r", "dag": "banner_report"}},
                {"expect": {"name": "done", "check": "no_task_lost"}},
            ],
        },
        "own_broken.yaml",
        base=tmp_path,
    )
    verdict = testbed_run_scenario(scenario)
    assert not verdict.ok
    errors = " ".join(s["error"] for s in verdict.failed_steps)
    assert "needs_pkg.py: ModuleNotFoundError: No module named 'not_a_real_package_xyz'" in errors
    assert "banner_report" not in errors  # the good files imported
    assert _events(_last_record(request), "trigger") == []  # nothing ran
