"""Before an Airflow 2 -> 3 upgrade, ``testbed preflight`` over a folder of DAGs: ruff's
Airflow 3 rules (real ruff, no Docker) find what breaks, tell breaks from advice, name file
and line, and set the exit code."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from testbed.cli import app
from testbed.core.errors import TestbedError
from testbed.preflight import lint

AIRFLOW_2 = """\
from airflow import DAG
from airflow.operators.bash_operator import BashOperator
from airflow.operators.python import PythonOperator
from airflow.utils.dates import days_ago

with DAG("old", schedule_interval="@daily", start_date=days_ago(1)) as dag:
    BashOperator(task_id="hello", bash_command="echo hi")
    PythonOperator(task_id="py", python_callable=print)
"""
AIRFLOW_3 = """\
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
def new():
    @task
    def hello() -> str:
        return "hi"

    hello()


new()
"""


def _folder(tmp_path, **files: str):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_an_airflow_2_dag_breaks_and_the_findings_name_file_line_and_rule(tmp_path):
    findings = lint(_folder(tmp_path, **{"team/old.py": AIRFLOW_2, "new.py": AIRFLOW_3}))
    breaking = {(f.file, f.line, f.code) for f in findings if f.breaking}
    assert ("team/old.py", 6, "AIR301") in breaking  # schedule_interval, days_ago
    assert ("team/old.py", 7, "AIR302") in breaking  # bash_operator: moved, old import gone
    advice = {(f.line, f.code) for f in findings if not f.breaking}
    assert (8, "AIR312") in advice  # PythonOperator: moved, still works
    assert all(f.file == "team/old.py" for f in findings)  # the Airflow 3 DAG is clean


def test_the_command_exits_1_on_a_break_and_0_on_a_clean_folder(tmp_path):
    runner = CliRunner()
    broken = _folder(tmp_path / "a", **{"old.py": AIRFLOW_2})
    r = runner.invoke(app, ["preflight", "--dags", str(broken), "--json", "--no-parse"])
    assert r.exit_code == 1
    rows = json.loads(r.stdout)["dags"]
    assert {row["code"] for row in rows if row["breaking"]} == {"AIR301", "AIR302"}
    clean = _folder(tmp_path / "b", **{"new.py": AIRFLOW_3})
    r = runner.invoke(app, ["preflight", "--dags", str(clean), "--no-parse"])
    assert r.exit_code == 0 and "nothing breaks" in r.stdout


def test_a_missing_folder_is_a_named_error_before_anything_runs(tmp_path):
    r = CliRunner().invoke(app, ["preflight", "--dags", str(tmp_path / "nope")])
    assert isinstance(r.exception, TestbedError) and "nope: not a folder" in str(r.exception)


def test_a_missing_config_file_or_an_unbuilt_version_is_refused_before_docker(tmp_path):
    dags = _folder(tmp_path / "d", **{"new.py": AIRFLOW_3})
    r = CliRunner().invoke(app, ["preflight", "--dags", str(dags), "--config", "nope.cfg"])
    assert isinstance(r.exception, TestbedError) and "nope.cfg: not a file" in str(r.exception)
    r = CliRunner().invoke(app, ["preflight", "--dags", str(dags), "--to", "2.11.2"])
    assert r.exit_code == 2 and "buildable: 3.1.7" in r.output  # Airflow 2 is no target
    r = CliRunner().invoke(app, ["preflight", "--dags", str(dags), "--from", "2.9.9"])
    assert r.exit_code == 2 and "--from '2.9.9'" in r.output and "2.11.2" in r.output


TRACEBACK = """Traceback (most recent call last):
  File "<frozen importlib._bootstrap>", line 488, in _call_with_frames_removed
  File "/opt/airflow/dags/team/old.py", line 3, in <module>
    from airflow.operators.dummy import DummyOperator
ModuleNotFoundError: No module named 'airflow.operators.dummy'
"""


def test_an_import_error_reads_as_the_folders_file_line_and_exception():
    from testbed import dagparse

    f = dagparse.failure("/opt/airflow/dags/team/old.py", TRACEBACK)
    assert f == dagparse.ImportFailure(
        "team/old.py", 3, "ModuleNotFoundError: No module named 'airflow.operators.dummy'"
    )
    answer = json.dumps({"dags": ["new"], "errors": {"/opt/airflow/dags/team/old.py": TRACEBACK}})
    parsed = dagparse.read("3.3.2", "a warning\n" + dagparse.MARK + answer + "\n")
    assert parsed.dags == ("new",) and parsed.failures == (f,) and parsed.failed("team/old.py")
    with pytest.raises(TestbedError, match="gave no answer: Killed"):
        dagparse.read("3.3.2", "Killed\n")


def test_an_import_failure_says_whether_the_upgrade_broke_it():
    from testbed.cli_preflight import _import_lines
    from testbed.dagparse import ImportFailure, Parsed

    moved = ImportFailure("old.py", 3, "ModuleNotFoundError: airflow.operators.dummy")
    typo = ImportFailure("typo.py", 1, "SyntaxError: invalid syntax")
    target = Parsed("3.3.2", ("new",), (moved, typo))
    current = Parsed("2.11.2", ("new", "old"), (typo,))
    lines = _import_lines([target, current])
    assert lines[0].endswith("(does not import on 3.3.2; imports on 2.11.2: the upgrade breaks it)")
    assert lines[1].endswith("(does not import on 3.3.2; fails on 2.11.2 too)")
    assert _import_lines([target])[0] == f"{moved.text()} (does not import on 3.3.2)"
    assert _import_lines([]) == []


def test_by_default_the_folder_is_imported_under_each_version_whose_image_is_here(monkeypatch):
    from testbed import dagparse
    from testbed.cli_preflight import _importable

    here = {"3.3.2"}
    monkeypatch.setattr(dagparse, "unavailable", lambda v: None if v in here else f"no {v}")
    assert _importable(["3.3.2", "2.11.2"], None) == (["3.3.2"], ["no 2.11.2"])
    here.clear()  # no target: no import at all (the current version alone says nothing)
    assert _importable(["3.3.2", "2.11.2"], None) == ([], ["no 3.3.2"])
    assert _importable(["3.3.2", "2.11.2"], True) == (["3.3.2", "2.11.2"], [])  # errors later
    assert _importable(["3.3.2"], False) == ([], [])
