"""Airflow configuration per node: env names, `_cmd` secrets, overrides, links, log keys."""

from __future__ import annotations

from testbed import airflow_config as AC
from testbed.core.secrets import Secrets
from testbed.topology import Topology

SECRETS = Secrets.generate()


def test_env_uses_airflow_section_key_names():
    env = AC.environment(Topology(), "scheduler", SECRETS)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == "s3://airflow-logs/logs"


def test_sensitive_options_come_from_cmd_files_not_env():
    env = AC.environment(Topology(), "worker-1", SECRETS)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"] == "cat /run/testbed/sql_alchemy_conn"
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env
    assert "AIRFLOW__CELERY__BROKER_URL" not in env
    joined = "\n".join(env.values())
    for value in (
        SECRETS.pg_password,
        SECRETS.redis_password,
        SECRETS.fernet_key,
        SECRETS.admin_password,
    ):
        assert value not in joined


def test_overrides_win_over_defaults():
    t = Topology(config={"celery": {"worker_concurrency": 1}, "scheduler": {"x_y": "z"}})
    env = AC.environment(t, "scheduler", SECRETS)
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "1"
    assert env["AIRFLOW__SCHEDULER__X_Y"] == "z"


def test_each_node_reaches_backends_through_its_own_proxy():
    t = Topology(workers=2)
    files = AC.secret_files(t, "worker-2", SECRETS)
    redis_port = t.link("worker-2", "redis").listen_port
    pg_port = t.link("worker-2", "postgres").listen_port
    assert files["broker_url"].endswith(f"@toxiproxy:{redis_port}/0")
    assert f"@toxiproxy:{pg_port}/airflow" in files["sql_alchemy_conn"]
    assert files["result_backend"].startswith("db+postgresql://")
    # every one-shot migrator shares one link (a drill slows or blackholes it)
    mig_port = t.link("migrate", "postgres").listen_port
    assert mig_port not in (redis_port, pg_port)
    for node in ("migrate", "migrate-2"):
        conn = AC.secret_files(t, node, SECRETS)["sql_alchemy_conn"]
        assert f"@toxiproxy:{mig_port}/airflow?application_name={node}" in conn


def test_log_key_matches_airflow3_template():
    key = AC.log_key("d", "manual__x", "t", 2)
    assert key == "logs/dag_id=d/run_id=manual__x/task_id=t/attempt=2.log"
    assert "map_index=3/" in AC.log_key("d", "r", "t", 1, map_index=3)


def test_database_sessions_are_named_after_their_node():
    files = AC.secret_files(Topology(workers=1), "scheduler", SECRETS)
    assert files["sql_alchemy_conn"].endswith("/airflow?application_name=scheduler")
    assert files["result_backend"].endswith("/airflow?application_name=scheduler")


def test_workers_triggerer_and_dag_processor_reach_the_execution_api_through_their_link():
    t = Topology(workers=2)
    url = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"
    for node in ("worker-1", "worker-2", "triggerer", "dag-processor"):
        port = t.link(node, "api-server").listen_port
        assert AC.environment(t, node, SECRETS)[url] == f"http://toxiproxy:{port}/execution/"
    assert AC.environment(t, "scheduler", SECRETS)[url] == "http://api-server:8080/execution/"
    own = Topology(workers=1, config={"core": {"execution_api_server_url": "http://x/e/"}})
    assert AC.environment(own, "worker-1", SECRETS)[url] == "http://x/e/"  # the user's wins
