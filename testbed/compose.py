"""A runnable Docker Compose project for the same topology, for reproducing a drill by hand.

``testbed compose --out DIR`` renders DIR/docker-compose.yml and DIR/files/ (the per-node secret
files, DAG copies and the Toxiproxy config as bind mounts) from the very specs the cluster boots
from, plus the two one-shot steps the cluster does itself (``airflow db migrate`` and the log
bucket). Secrets are generated afresh into DIR/files (mode 0600), never printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from testbed import airflow_config as AC
from testbed import labels as L
from testbed.images import catalog
from testbed.runtime import NO_EGRESS, NodeSpec
from testbed.secrets import Secrets
from testbed.services import airflow, minio, postgres, redis, toxiproxy
from testbed.topology import Topology

MODULES = {"postgres": postgres, "redis": redis, "minio": minio, "toxiproxy": toxiproxy}
HEALTH = {
    "postgres": ["CMD", "pg_isready", "-h", "127.0.0.1", "-t", "2"],
    "redis": ["CMD-SHELL", 'redis-cli -a "$$(cat /run/testbed/redis_password)" ping | grep PONG'],
    # its API answers once every proxy of its config file listens
    "toxiproxy": ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8474"],
}
MAKE_BUCKET = (
    "import boto3, json, os; c = json.loads(os.environ['AIRFLOW_CONN_MINIO']); "
    "boto3.client('s3', endpoint_url='http://minio:9000', aws_access_key_id=c['login'], "
    f"aws_secret_access_key=c['password'], region_name='us-east-1').create_bucket("
    f"Bucket='{AC.LOG_BUCKET}')"
)


@dataclass
class StaticCtx:
    """The pure part of a cluster that specs read; no containers exist."""

    topology: Topology
    secrets: Secrets
    services_image: str
    airflow_image: str
    postgres_image: str

    def image_for(self, node: str) -> str:
        if self.topology.requirements:  # the user's extra packages (`testbed run` builds it)
            return catalog.extra_ref(self.topology.airflow_version, self.topology.requirements).name
        return self.airflow_image


def specs(topology: Topology, secrets: Secrets) -> list[NodeSpec]:
    services = catalog.services_ref().name
    ctx = StaticCtx(
        topology, secrets, services, catalog.airflow_ref(topology.airflow_version).name, services
    )
    out = [MODULES.get(n, airflow).spec(ctx, n) for n in topology.nodes]
    migrate = airflow.migrate_spec(ctx)
    bucket = airflow.spec(ctx, "migrate")
    bucket.name, bucket.role, bucket.command = (
        "minio-init",
        "minio-init",
        ["python", "-c", MAKE_BUCKET],
    )
    return [*out, migrate, bucket]


def _depends(spec: NodeSpec) -> dict:
    if spec.role in ("postgres", "redis", "minio", "toxiproxy"):
        return {}
    if spec.role == "migrate":  # through its own Toxiproxy link, like the testbed's migrators
        return {
            "postgres": {"condition": "service_healthy"},
            "toxiproxy": {"condition": "service_healthy"},
        }
    if spec.role == "minio-init":
        return {"minio": {"condition": "service_started"}}
    return {
        "migrate": {"condition": "service_completed_successfully"},
        "minio-init": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
        "toxiproxy": {"condition": "service_healthy"},
    }


def service(spec: NodeSpec, files_dir: Path, labels: dict[str, str]) -> dict:
    volumes = []
    for path, (data, mode) in sorted(spec.files.items()):
        host = files_dir / spec.name / path.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(data)
        os.chmod(host, mode)
        if os.geteuid() == 0:
            os.chown(host, spec.file_uid, 0)
        volumes.append(f"./{host.relative_to(files_dir.parent)}:{path}")
    svc: dict = {
        "image": spec.image,
        "command": spec.command,
        "hostname": spec.name,
        "init": True,
        "labels": {**labels, L.ROLE: spec.role, L.NODE: spec.name},
        "networks": {"cluster": {"aliases": [spec.name]}},
    }
    for key, value in (
        ("environment", spec.env),
        ("ports", [f"127.0.0.1::{p}" for p in spec.ports]),
        ("volumes", volumes),
        ("depends_on", _depends(spec)),
        ("user", spec.user),
    ):
        if value:
            svc[key] = value
    if spec.name in HEALTH:
        svc["healthcheck"] = {"test": HEALTH[spec.name], "interval": "1s", "retries": 60}
    if spec.role in ("migrate", "minio-init"):
        svc["restart"] = "no"
    return svc


def render(topology: Topology, out: Path, run_id: str | None = None) -> Path:
    """Write ``out/docker-compose.yml`` and ``out/files/``; return the compose file's path."""
    run_id = run_id or L.new_run_id("tbc")
    secrets = Secrets.generate()
    secrets.save(out / "files" / "secrets")
    labels = L.run_labels(run_id, detached=True)
    doc = {
        "services": {s.name: service(s, out / "files", labels) for s in specs(topology, secrets)},
        "networks": {
            "cluster": {"driver": "bridge", "labels": labels, "driver_opts": dict(NO_EGRESS)}
        },
    }
    (out / ".env").write_text(f"COMPOSE_PROJECT_NAME={run_id}\n")  # compose v1 and v2
    path = out / "docker-compose.yml"
    header = (
        f"# Rendered by `testbed compose` for run {run_id} ({topology.workers} workers, Airflow "
        f"{topology.airflow_version}).\n# Build the images first: `testbed images build`. "
        "Then: docker-compose up -d; `testbed down --run " + run_id + "` removes it.\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=100))
    return path
