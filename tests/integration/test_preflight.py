"""``testbed preflight --config``: Airflow 3's own ``airflow config lint``, run in the target
version's image over an Airflow 2 airflow.cfg, names what moved, was renamed or changed default."""

from __future__ import annotations

import pytest

from testbed import runtime
from testbed.core import labels as L
from testbed.images.catalog import DEFAULT_AIRFLOW_VERSION
from testbed.preflight import config_lint

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]

AIRFLOW_2_CFG = """\
[core]
executor = CeleryExecutor
dag_concurrency = 16

[webserver]
web_server_port = 8080

[scheduler]
dag_dir_list_interval = 300
"""


def test_config_lint_names_each_airflow_2_option_and_leaves_no_container(tmp_path):
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(AIRFLOW_2_CFG)
    issues = config_lint(cfg, DEFAULT_AIRFLOW_VERSION)
    text = "\n".join(issues)
    assert "`dag_concurrency` configuration parameter renamed to `max_active_tasks_per_dag`" in text
    assert "`web_server_port` configuration parameter moved from `webserver`" in text
    assert "`dag_dir_list_interval` configuration parameter moved from `scheduler`" in text
    assert len(issues) == 4, issues  # and the executor's changed default
    left = runtime.containers({"label": L.RUN})
    assert not [c for c in left if c.labels.get(L.NODE, "").startswith("preflight")]


OLD_IMPORT = """\
from datetime import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG("old_import", start_date=datetime(2024, 1, 1), schedule=None):
    DummyOperator(task_id="noop")
"""
FINE = """\
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("fine", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="noop")
"""


def test_parse_imports_every_file_with_the_targets_dagbag_and_leaves_no_container(tmp_path):
    from testbed.dagparse import parse

    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "old.py").write_text(OLD_IMPORT)
    (tmp_path / "fine.py").write_text(FINE)
    parsed = parse(tmp_path, DEFAULT_AIRFLOW_VERSION)
    assert parsed.dags == ("fine",)
    [failure] = parsed.failures
    assert (failure.file, failure.line) == ("team/old.py", 4)
    assert failure.error == "ModuleNotFoundError: No module named 'airflow.operators.dummy'"
    left = runtime.containers({"label": L.RUN})
    assert not [c for c in left if c.labels.get(L.NODE, "").startswith("preflight")]
