"""Topology -> container specs: images, commands, ports, files, DAG copies, proxies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from testbed.core.secrets import Secrets
from testbed.services import airflow, minio, postgres, redis, toxiproxy
from testbed.topology import Topology


@dataclass
class FakeCtx:
    """The pure part of a cluster that spec() reads (no containers, no Docker)."""

    topology: Topology = field(default_factory=lambda: Topology(workers=2))
    secrets: Secrets = field(default_factory=Secrets.generate)
    services_image: str = "testbed-services:abc"
    airflow_image: str = "testbed-airflow:3.3.2-def"
    postgres_image: str = "testbed-services:abc"

    def image_for(self, node: str) -> str:
        return self.airflow_image


def test_airflow_roles_commands_and_ports():
    ctx = FakeCtx()
    assert airflow.spec(ctx, "scheduler").command == ["airflow", "scheduler"]
    assert airflow.spec(ctx, "scheduler").ports == [8974]
    assert airflow.spec(ctx, "api-server").ports == [8080]
    w = airflow.spec(ctx, "worker-2")
    assert w.role == "celery-worker" and w.command == ["airflow", "celery", "worker"]
    assert w.ports == [] and w.image == ctx.airflow_image and w.name == "worker-2"


def test_every_api_server_answers_to_the_one_name():
    ctx = FakeCtx(topology=Topology(workers=1, api_servers=2))
    second = airflow.spec(ctx, "api-server-2")
    assert second.role == "api-server" and second.command == ["airflow", "api-server"]
    assert second.aliases == ["api-server"] and second.ports == [8080]
    assert airflow.spec(ctx, "api-server").aliases == []
    url = second.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert url == "http://api-server:8080/execution/"


def test_dags_copied_only_to_nodes_that_parse_or_run_them():
    ctx = FakeCtx()
    dag = "/opt/airflow/dags/smoke.py"
    assert dag in airflow.spec(ctx, "worker-1").files
    assert dag in airflow.spec(ctx, "dag-processor").files
    assert dag not in airflow.spec(ctx, "scheduler").files
    assert dag not in airflow.spec(ctx, "api-server").files


def test_secret_files_are_private_and_per_node():
    ctx = FakeCtx()
    files = airflow.spec(ctx, "worker-1").files
    data, mode = files["/run/testbed/broker_url"]
    assert mode == 0o600 and ctx.secrets.redis_password.encode() in data
    assert b"toxiproxy" in data


def test_infrastructure_specs():
    ctx = FakeCtx()
    pg = postgres.spec(ctx)
    assert pg.command == ["tb-postgres"] and pg.ports == [5432] and pg.file_uid == 0
    assert pg.files["/run/testbed/pg_password"][0] == ctx.secrets.pg_password.encode()
    assert redis.spec(ctx).ports == [6379]
    assert minio.spec(ctx).env["MINIO_ROOT_PASSWORD"] == ctx.secrets.minio_password


def test_toxiproxy_declares_one_proxy_per_link():
    ctx = FakeCtx()
    spec = toxiproxy.spec(ctx)
    proxies = json.loads(spec.files["/etc/toxiproxy.json"][0])
    assert len(proxies) == len(ctx.topology.links())
    sched = next(p for p in proxies if p["name"] == "scheduler.postgres")
    assert sched["upstream"] == "postgres:5432"
    assert sched["listen"].endswith(f":{ctx.topology.link('scheduler', 'postgres').listen_port}")
