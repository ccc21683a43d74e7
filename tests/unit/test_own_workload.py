"""A user's own workload, without Docker: DAG ids read from source (never imported), the DAG
folder copied with its subfolders, extra requirements checked and hashed into an image tag,
scenario paths resolved against the scenario file, import errors summarised."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from testbed import dagcheck, dagscan
from testbed.core.errors import ScenarioError, TestbedError
from testbed.images import catalog, extra
from testbed.scenario.load import from_data, load
from testbed.services.airflow import dag_files
from testbed.topology import Topology

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_deployment"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_scan_reads_every_definition_form_without_importing(tmp_path):
    write(tmp_path, "a.py", "import not_installed\n@dag\ndef plain(): pass\nplain()\n")
    write(tmp_path, "b.py", "@dag(schedule=None)\ndef called(): pass\ncalled()\n")
    write(tmp_path, "c.py", "@airflow.sdk.dag(dag_id='renamed')\ndef f(): pass\nf()\n")
    write(tmp_path, "d.py", "with DAG('classic', schedule=None):\n    pass\n")
    write(tmp_path, "sub/e.py", "x = DAG(dag_id='nested')\n")
    write(tmp_path, "f.py", "@dag('positional')\ndef g(): pass\ng()\n")
    write(tmp_path, "g.py", "@dag(dag_id='')\ndef empty_id(): pass\nempty_id()\n")
    write(
        tmp_path, "h.py", "from airflow.sdk import DAG as D\nwith D(dag_id='aliased'):\n    pass\n"
    )
    scan = dagscan.scan(tmp_path)
    assert scan.ids == {
        "plain": "a.py",
        "called": "b.py",
        "renamed": "c.py",
        "classic": "d.py",
        "nested": "sub/e.py",
        "positional": "f.py",
        "empty_id": "g.py",
        "aliased": "h.py",
    }
    assert scan.complete
    assert scan.dag_files == set(scan.ids.values())


def test_only_module_level_definitions_make_a_dag_file(tmp_path):
    write(tmp_path, "common/factory.py", "def make(n):\n    return DAG(dag_id=n)\n")
    write(tmp_path, "uncalled.py", "@dag\ndef never(): pass\n")
    write(tmp_path, "uses.py", "from common.factory import make\nmake('built')\n")
    write(tmp_path, "skipped/old.py", "with DAG('old'):\n    pass\n")
    write(tmp_path, ".airflowignore", "skipped\n")
    scan = dagscan.scan(tmp_path)
    assert scan.dag_files == set()  # the factory's DAG only exists where it is called
    assert "old" not in scan.ids  # .airflowignore'd, as the dag-processor does
    assert scan.computed == ["common/factory.py"] and not scan.complete


def test_scan_counts_computed_ids_and_syntax_errors(tmp_path):
    write(tmp_path, "loop.py", "for n in range(3):\n    DAG(dag_id=f'gen_{n}')\n")
    write(tmp_path, "broken.py", "def (:\n")
    write(tmp_path, "__pycache__/x.py", "DAG('cached')\n")
    scan = dagscan.scan(tmp_path)
    assert scan.ids == {}
    assert scan.computed == ["loop.py"]
    assert set(scan.unparsable) == {"broken.py"}
    assert not scan.complete


def test_example_folder_ids():
    assert dagscan.dag_ids(EXAMPLE / "dags") == {"banner_report", "nightly_etl"}


def test_dag_files_keep_subfolders_and_skip_caches(tmp_path):
    write(tmp_path, "top.py", "x = 1\n")
    write(tmp_path, "common/util.py", "y = 2\n")
    write(tmp_path, "sql/query.sql", "select 1\n")
    write(tmp_path, "__pycache__/top.cpython-313.pyc", "junk")
    files = dag_files(tmp_path)
    assert set(files) == {
        "/opt/airflow/dags/top.py",
        "/opt/airflow/dags/common/util.py",
        "/opt/airflow/dags/sql/query.sql",
    }
    assert files["/opt/airflow/dags/common/util.py"][0] == b"y = 2\n"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not a package!", "is not a package requirement"),
        ("pkg @ https://example.com/pkg.whl", "points at a URL"),
    ],
)
def test_bad_requirements_are_refused(line, says):
    with pytest.raises(TestbedError, match=says):
        Topology(requirements=(line,))


def test_a_record_whose_dag_folder_is_gone_still_makes_a_topology(tmp_path):
    # `testbed down` rebuilds the topology from run.json: the folder may be gone by then
    assert Topology(dags=str(tmp_path / "gone")).dags.endswith("gone")


def test_extra_image_tag_depends_on_inputs_only():
    a = catalog.extra_ref("3.3.2", ("pyfiglet==1.0.4", "cowsay==6.1"))
    b = catalog.extra_ref("3.3.2", ("cowsay==6.1", "pyfiglet==1.0.4"))
    c = catalog.extra_ref("3.3.2", ("pyfiglet==1.0.3",))
    d = catalog.extra_ref("3.2.2", ("pyfiglet==1.0.4", "cowsay==6.1"))
    assert a.name == b.name
    assert len({a.name, c.name, d.name}) == 3
    assert a.tag.startswith("3.3.2-") and a.repo == "testbed-airflow-extra"


def test_constraints_pin_airflow_and_its_dependencies():
    lines = extra.constraints("3.3.2").splitlines()
    assert "apache-airflow==3.3.2" in lines
    assert len(lines) == len(catalog.lock_pins("3.3.2") | catalog.tools_pins())
    assert all("==" in line for line in lines)


def test_build_context_holds_what_the_dockerfile_copies(tmp_path):
    extra.write_context(tmp_path, "3.3.2", ("pyfiglet==1.0.4",), b"CA")
    dockerfile = (tmp_path / "Dockerfile").read_text()
    for name in ("requirements.txt", "constraints.txt", "ca-bundle.crt"):
        assert name in dockerfile and (tmp_path / name).is_file()
    assert (tmp_path / "requirements.txt").read_text() == "pyfiglet==1.0.4\n"


def test_example_scenario_resolves_paths_against_its_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the example's folder: paths must not depend on the cwd
    s = load(EXAMPLE / "drill.yaml")
    topo = s.topology.build()
    assert topo.dags == str((EXAMPLE / "dags").resolve())
    assert topo.requirements == ("pyfiglet==1.0.4",)


def _scenario(dags: str, dag: str = "banner_report", **topology) -> dict:
    return {
        "name": "own",
        "topology": {"dags": dags, **topology},
        "steps": [
            {"trigger": {"name": "r", "dag": dag}},
            {"expect": {"name": "done", "check": "no_task_lost"}},
        ],
    }


def test_unknown_dag_is_checked_against_the_users_folder(tmp_path):
    shutil.copytree(EXAMPLE / "dags", tmp_path / "dags")
    with pytest.raises(ScenarioError, match="unknown DAG 'smoke'; DAGs: banner_report, nightly"):
        from_data(_scenario("dags", dag="smoke"), "own.yaml", base=tmp_path)


def test_computed_ids_let_an_unlisted_dag_through(tmp_path):
    write(tmp_path, "dags/gen.py", "for n in range(2):\n    DAG(dag_id=f'gen_{n}')\n")
    s = from_data(_scenario("dags", dag="gen_1"), "own.yaml", base=tmp_path)
    assert s.steps[0].dag == "gen_1"


def test_syntax_error_in_a_dag_file_is_reported_before_boot(tmp_path):
    shutil.copytree(EXAMPLE / "dags", tmp_path / "dags")
    write(tmp_path, "dags/broken.py", "def (:\n")
    with pytest.raises(ScenarioError, match=r"topology\.dags: .*broken\.py: not valid Python"):
        from_data(_scenario("dags"), "own.yaml", base=tmp_path)


def test_requirements_file_with_continuations_and_comments(tmp_path):
    shutil.copytree(EXAMPLE / "dags", tmp_path / "dags")
    write(tmp_path, "reqs.txt", "pyfiglet==1.0.4\t# banners\ncowsay \\\n  ==6.1\n# end\n")
    s = from_data(_scenario("dags", requirements="reqs.txt"), "own.yaml", base=tmp_path)
    assert s.topology.build().requirements == ("pyfiglet==1.0.4", "cowsay ==6.1")


def test_a_bad_requirement_line_names_its_file_and_line(tmp_path):
    shutil.copytree(EXAMPLE / "dags", tmp_path / "dags")
    write(tmp_path, "reqs.txt", "pyfiglet==1.0.4 \\\n  --hash=sha256:ab\nnot a req!\n")
    with pytest.raises(ScenarioError, match=r"reqs\.txt line 1: pip options \(--hash=sha256:ab\)"):
        from_data(_scenario("dags", requirements="reqs.txt"), "own.yaml", base=tmp_path)
    write(tmp_path, "reqs.txt", "pyfiglet==1.0.4\nnot a req!\n")
    with pytest.raises(ScenarioError, match=r"reqs\.txt line 2: 'not a req!' is not a package"):
        from_data(_scenario("dags", requirements="reqs.txt"), "own.yaml", base=tmp_path)


def test_requirements_file_with_pip_options_is_refused(tmp_path):
    shutil.copytree(EXAMPLE / "dags", tmp_path / "dags")
    write(tmp_path, "reqs.txt", "# ours\npyfiglet==1.0.4  # banners\n--index-url http://x\n")
    with pytest.raises(ScenarioError, match=r"reqs\.txt line 3: pip options \(--index-url\)"):
        from_data(_scenario("dags", requirements="reqs.txt"), "own.yaml", base=tmp_path)


def test_missing_dag_folder_names_the_file_and_field(tmp_path):
    with pytest.raises(ScenarioError, match=r"own\.yaml: topology\.dags: .* is not a folder"):
        from_data(_scenario("nowhere"), "own.yaml", base=tmp_path)


def test_import_error_summary_and_outstanding_files():
    errors = {
        "/opt/airflow/dags/broken.py": "Traceback (most recent call last):\n  File ...\n"
        "ModuleNotFoundError: No module named 'nope'\n"
    }
    assert dagcheck.summary(errors) == "broken.py: ModuleNotFoundError: No module named 'nope'"
    expected = {"broken.py", "ok.py", "slow.py"}
    assert dagcheck.outstanding(expected, {"ok.py"}, errors) == {"slow.py"}
    assert dagcheck.outstanding(expected, {"ok.py", "slow.py"}, errors) == set()


def test_a_resolver_refusal_is_explained_in_one_line():
    tail = [
        "Step 4/5 : RUN uv pip install ...",
        "× No solution found when resolving dependencies:",
        "Because you require requests==2.0.0 and requests==2.34.2, we can conclude that your "
        "requirements are unsatisfiable.",
        "Removing intermediate container 61972ee43a75",
    ]
    why = extra._cause(tail)
    assert why.startswith("× No solution found")
    assert "requests==2.0.0 and requests==2.34.2" in why and "intermediate" not in why


class FakeAPI:
    """The two reads dagcheck makes, answering from lists of states (one per poll)."""

    def __init__(self, parsed: list[set[str]], errors: list[dict[str, str]]) -> None:
        self.parsed, self.errors = parsed, errors

    def parsed_files(self) -> set[str]:
        return self.parsed.pop(0) if len(self.parsed) > 1 else self.parsed[0]

    def import_errors(self) -> dict[str, str]:
        return self.errors.pop(0) if len(self.errors) > 1 else self.errors[0]


def test_wait_parsed_returns_when_every_dag_file_is_parsed(monkeypatch):
    monkeypatch.setattr(dagcheck.time, "sleep", lambda s: None)
    api = FakeAPI([set(), {"banner_report.py"}, {"banner_report.py", "nightly_etl.py"}], [{}])
    got = dagcheck.wait_parsed(api, EXAMPLE / "dags", timeout=30)
    assert got.files == ["banner_report.py", "nightly_etl.py"] and got.not_seen == []


def test_wait_parsed_raises_every_import_error_even_of_unscanned_files(monkeypatch):
    monkeypatch.setattr(dagcheck.time, "sleep", lambda s: None)
    trace = "Traceback...\nModuleNotFoundError: No module named 'x'\n"
    api = FakeAPI(
        [{"banner_report.py"}], [{"nightly_etl.py": trace, "helpers/made.py": "SyntaxError: y"}]
    )
    with pytest.raises(dagcheck.DagImportErrors) as err:
        dagcheck.wait_parsed(api, EXAMPLE / "dags", timeout=30)
    assert "helpers/made.py: SyntaxError: y" in str(err.value)
    assert "nightly_etl.py: ModuleNotFoundError: No module named 'x'" in str(err.value)


def test_wait_parsed_gives_up_softly_on_files_never_parsed(monkeypatch):
    monkeypatch.setattr(dagcheck.time, "sleep", lambda s: None)
    api = FakeAPI([{"banner_report.py"}], [{}])
    got = dagcheck.wait_parsed(api, EXAMPLE / "dags", timeout=0)
    assert got.files == ["banner_report.py"] and got.not_seen == ["nightly_etl.py"]


def test_a_chaos_run_on_your_own_dags_resolves_them_against_the_scenario(tmp_path, monkeypatch):
    shutil.copytree(EXAMPLE / "dags", tmp_path / "proj" / "dags")
    write(tmp_path, "proj/reqs.txt", "pyfiglet==1.0.4\n")
    monkeypatch.chdir(tmp_path)  # not the scenario's folder
    data = {
        "name": "c",
        "topology": {"dags": "dags", "requirements": "reqs.txt"},
        "steps": [{"chaos": {"seed": 3, "duration": "60s", "workload": "nightly_etl:20s"}}],
    }
    s = from_data(data, "proj/chaos.yaml", base=tmp_path / "proj")
    (recorded,) = s.chaos_schedules
    assert recorded["topology"]["dags"] == str((tmp_path / "proj" / "dags").resolve())
    assert s.topology.build().requirements == ("pyfiglet==1.0.4",)
