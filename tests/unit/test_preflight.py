"""Before an Airflow 2 -> 3 upgrade, ``testbed preflight`` over a folder of DAGs: ruff's
Airflow 3 rules (real ruff, no Docker) find what breaks, tell breaks from advice, name file
and line, and set the exit code."""

from __future__ import annotations

import json

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
    r = runner.invoke(app, ["preflight", "--dags", str(broken), "--json"])
    assert r.exit_code == 1
    rows = json.loads(r.stdout)["dags"]
    assert {row["code"] for row in rows if row["breaking"]} == {"AIR301", "AIR302"}
    clean = _folder(tmp_path / "b", **{"new.py": AIRFLOW_3})
    r = runner.invoke(app, ["preflight", "--dags", str(clean)])
    assert r.exit_code == 0 and "nothing breaks" in r.stdout


def test_a_missing_folder_is_a_named_error_before_anything_runs(tmp_path):
    r = CliRunner().invoke(app, ["preflight", "--dags", str(tmp_path / "nope")])
    assert isinstance(r.exception, TestbedError) and "nope: not a folder" in str(r.exception)


def test_a_missing_config_file_or_an_unbuilt_version_is_refused_before_docker(tmp_path):
    dags = _folder(tmp_path / "d", **{"new.py": AIRFLOW_3})
    r = CliRunner().invoke(app, ["preflight", "--dags", str(dags), "--config", "nope.cfg"])
    assert isinstance(r.exception, TestbedError) and "nope.cfg: not a file" in str(r.exception)
    r = CliRunner().invoke(app, ["preflight", "--dags", str(dags), "--to", "2.11.2"])
    assert r.exit_code == 2 and "built: 3.1.7" in r.output
