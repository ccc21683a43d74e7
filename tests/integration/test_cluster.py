"""The foundation on a real cluster: boot, nodes, configuration, the smoke drill."""

from __future__ import annotations

import pytest

from testbed import runtime
from testbed.core import labels as L
from testbed.services import postgres
from testbed.smoke import run_smoke

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]


def test_every_node_runs_in_its_own_container_with_its_own_hostname(testbed_cluster):
    containers = runtime.run_objects(testbed_cluster.run_id)[0]
    by_node = {c.labels[L.NODE]: c for c in containers}
    assert set(by_node) == set(testbed_cluster.topology.nodes)
    for node, c in by_node.items():
        assert runtime.state(c) == "running", node
        assert c.attrs["Config"]["Hostname"] == node


def test_host_ports_bind_loopback_only(testbed_cluster):
    for c in runtime.run_objects(testbed_cluster.run_id)[0]:
        for bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).values():
            for b in bindings or []:
                assert b["HostIp"] == "127.0.0.1", c.name


def test_secrets_are_not_in_the_environment_of_airflow_nodes(testbed_cluster):
    s = testbed_cluster.secrets
    c = testbed_cluster.container("scheduler")
    env = "\n".join(c.attrs["Config"]["Env"])
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD=cat /run/testbed/sql_alchemy_conn" in env
    for value in (s.pg_password, s.redis_password, s.fernet_key, s.admin_password):
        assert value not in env


def test_airflow_reaches_postgres_through_toxiproxy(testbed_cluster):
    link = testbed_cluster.topology.link("scheduler", "postgres")
    r = runtime.exec_run(
        testbed_cluster.container("scheduler"), ["cat", "/run/testbed/sql_alchemy_conn"], timeout=10
    )
    assert f"@toxiproxy:{link.listen_port}/airflow" in r.output
    proxy = testbed_cluster.container("toxiproxy")
    proxy_ip = next(iter(proxy.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    with postgres.connect(testbed_cluster) as conn:
        (count,) = conn.execute(
            "select count(*) from pg_stat_activity where client_addr = %s", (proxy_ip,)
        ).fetchone()
    assert count > 0, "no Airflow connection arrives from the toxiproxy node"


def test_database_is_migrated(testbed_cluster):
    with postgres.connect(testbed_cluster) as conn:
        version = conn.execute("select version_num from alembic_version").fetchone()
    assert version and version[0]


def test_workers_have_their_own_copy_of_the_dags(testbed_cluster):
    for node in testbed_cluster.topology.worker_names:
        r = runtime.exec_run(
            testbed_cluster.container(node), ["ls", "/opt/airflow/dags"], timeout=10
        )
        assert "smoke.py" in r.output.split(), node


def test_smoke_drill(testbed_cluster):
    result = run_smoke(testbed_cluster)
    assert result.state == "success"
    assert result.worker in testbed_cluster.topology.worker_names
    assert result.log_in_s3, f"no object {result.log_key} in MinIO"
    assert result.api_log_has_marker, "the API did not serve the task's log from S3"
    kinds = [e["kind"] for e in testbed_cluster.history.events()]
    assert "trigger" in kinds and "smoke" in kinds


def test_exec_timeout_is_enforced(testbed_cluster):
    from testbed.core.errors import ExecTimeout

    with pytest.raises(ExecTimeout):
        runtime.exec_run(testbed_cluster.container("redis"), ["sleep", "30"], timeout=1)
    # SIGKILLed by something else well before its timeout (e.g. the OOM killer): not a timeout
    killed = ["sh", "-c", "kill -9 $$"]
    assert runtime.exec_run(testbed_cluster.container("redis"), killed, timeout=30).exit_code == 137


def test_status_json_lists_every_node_and_the_api_port(testbed_cluster):
    import json
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("testbed")
    run_id = testbed_cluster.run_id
    r = subprocess.run(
        [str(exe), "status", "--json", "--run", run_id], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)[run_id]
    assert {row["node"] for row in rows} == set(testbed_cluster.topology.nodes)
    api = next(row for row in rows if row["node"] == "api-server")
    assert api["state"] == "running"
    assert api["ports"]["8080"] == testbed_cluster.host_port("api-server", 8080)
