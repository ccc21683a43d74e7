"""A runnable Docker Compose project for the same topology, for reproducing a drill by hand.

``testbed compose --out DIR`` renders DIR/docker-compose.yml and DIR/files/ (the per-node secret
files, DAG copies and the Toxiproxy config as bind mounts) from the very specs the cluster boots
from, plus the two one-shot steps the cluster does itself (``airflow db migrate`` and the log
bucket). Secrets are generated afresh into DIR/files (mode 0600), never printed.

With Kerberos (``kerberos: true``) the project has the KDC, the kerberized Postgres and a ticket
refresher per worker as the cluster does, with one difference forced by Compose having no
``docker exec`` at boot: the KDC's entry point exports each keytab itself at its first boot
(``TB_KRB_EXPORT``) onto a memory-backed volume shared with the one node that holds it
(read-only there); the holders start once the KDC is healthy, each worker once its refresher
holds a ticket. The credential caches are the same memory-backed volumes, read-only on the
workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from testbed import airflow_config as AC
from testbed import krb5
from testbed.core import labels as L
from testbed.core.secrets import Secrets
from testbed.dag_sync import GIT_SERVER
from testbed.images import catalog
from testbed.runtime import NO_EGRESS, NodeSpec, Volume
from testbed.services import (
    airflow,
    git_server,
    kdc,
    kerberos,
    minio,
    pg_krb,
    postgres,
    redis,
    toxiproxy,
)
from testbed.topology import PG_KRB, SIDECAR_SUFFIX, Topology

MODULES = {
    "postgres": postgres,
    "redis": redis,
    "minio": minio,
    "toxiproxy": toxiproxy,
    GIT_SERVER: git_server,
}
HEALTH = {
    "postgres": ["CMD", "pg_isready", "-h", "127.0.0.1", "-t", "2"],
    "redis": ["CMD-SHELL", 'redis-cli -a "$$(cat /run/testbed/redis_password)" ping | grep PONG'],
    # its API answers once every proxy of its config file listens
    "toxiproxy": ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8474"],
    # Kerberos: the KDC answers a kinit of its probe principal (written before krb5kdc starts,
    # after every exported keytab); the target answers; a refresher's cache holds a valid TGT
    "kdc": ["CMD", "kinit", "-k", "-t", kdc.PROBE_KEYTAB, "-c", "MEMORY:p", f"probe@{krb5.REALM}"],
    PG_KRB: ["CMD", "pg_isready", "-h", "/tmp", "-t", "2"],
}
SIDECAR_HEALTH = ["CMD", "klist", "-s", "-c", AC.CCACHE]
# Keytabs without `docker exec`: the KDC's entry point exports each holder's keytab at its first
# boot (TB_KRB_EXPORT) onto a memory-backed volume shared with that holder only, read-only there.
KEYTAB_MOUNT = "/run/testbed/keytab"
KDC_KEYTABS = "/run/testbed/keytabs"
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
        reqs = self.topology.image_requirements  # the user's extra packages, the git provider
        if reqs:  # in a derived image (`testbed run` builds it)
            return catalog.extra_ref(self.topology.airflow_version, reqs).name
        return self.airflow_image


def specs(topology: Topology, secrets: Secrets) -> list[NodeSpec]:
    services = catalog.services_ref().name
    ctx = StaticCtx(
        topology, secrets, services, catalog.airflow_ref(topology.airflow_version).name, services
    )
    out = [_spec(ctx, n) for n in topology.nodes]
    migrate = airflow.migrate_spec(ctx)
    bucket = airflow.spec(ctx, "migrate")
    bucket.name, bucket.role, bucket.command = (
        "minio-init",
        "minio-init",
        ["python", "-c", MAKE_BUCKET],
    )
    return [*out, migrate, bucket]


def _spec(ctx: StaticCtx, node: str) -> NodeSpec:
    """The cluster's spec of ``node``; a Kerberos node's keytab comes from the KDC's volume."""
    if node == "kdc":
        s = kdc.spec(ctx, node)
        exports = [
            f"{principal}:{KDC_KEYTABS}/{holder}/{name}:{uid}"
            for holder, principal, name, uid in _keytabs(ctx.topology)
        ]
        s.env["TB_KRB_EXPORT"] = " ".join(exports)
        s.volumes += [
            Volume(_keytab_volume(h), f"{KDC_KEYTABS}/{h}", tmpfs=True, uid=uid)
            for h, _, _, uid in _keytabs(ctx.topology)
        ]
        return s
    if node == PG_KRB:
        s = pg_krb.base_spec(ctx, node)
        s.env["TB_PG_KEYTAB"] = f"{KEYTAB_MOUNT}/pg.keytab"
        s.volumes.append(Volume(_keytab_volume(node), KEYTAB_MOUNT, read_only=True, tmpfs=True))
        return s
    if node.endswith(SIDECAR_SUFFIX):
        s = kerberos.base_spec(ctx, node)
        s.env[AC.env_name("kerberos", "keytab")] = f"{KEYTAB_MOUNT}/{kerberos.KEYTAB_NAME}"
        s.volumes.append(Volume(_keytab_volume(node), KEYTAB_MOUNT, read_only=True, tmpfs=True))
        return s
    return MODULES.get(node, airflow).spec(ctx, node)


def _keytabs(topology: Topology) -> list[tuple[str, str, str, int]]:
    """(holder node, principal, keytab file name, owner uid) of every keytab the KDC exports."""
    if not topology.kerberos:
        return []
    out = [(PG_KRB, pg_krb.SERVICE_PRINCIPAL, "pg.keytab", 0)]
    for w in topology.worker_names:
        principal = kerberos.worker_principal(w)
        out.append((kerberos.sidecar_of(w), principal, kerberos.KEYTAB_NAME, 50000))
    return out


def _keytab_volume(holder: str) -> str:
    return f"{holder}-keytab"


def _depends(spec: NodeSpec, broker: bool = True) -> dict:
    if spec.role in ("postgres", "redis", "minio", "toxiproxy", "kdc"):
        return {}
    if spec.role in ("pg-krb", "kerberos"):  # the KDC has exported their keytabs
        return {"kdc": {"condition": "service_healthy"}}
    if spec.role == "migrate":  # through its own Toxiproxy link, like the testbed's migrators
        return {
            "postgres": {"condition": "service_healthy"},
            "toxiproxy": {"condition": "service_healthy"},
        }
    if spec.role == "minio-init":
        return {"minio": {"condition": "service_started"}}
    depends = {
        "migrate": {"condition": "service_completed_successfully"},
        "minio-init": {"condition": "service_completed_successfully"},
        "toxiproxy": {"condition": "service_healthy"},
    }
    if broker:  # Redis, Celery's broker (none with the LocalExecutor)
        depends["redis"] = {"condition": "service_healthy"}
    if spec.role == "celery-worker" and any(v.path == AC.CCACHE_DIR for v in spec.volumes):
        # a kerberized worker starts once its refresher holds a ticket
        depends[kerberos.sidecar_of(spec.name)] = {"condition": "service_healthy"}
    return depends


def service(spec: NodeSpec, files_dir: Path, labels: dict[str, str], broker: bool = True) -> dict:
    """One compose service; ``broker``: a Redis service runs (not with the LocalExecutor)."""
    volumes = []
    for files, uid in ((spec.files, spec.file_uid), (spec.root_files, 0)):
        for path, (data, mode) in sorted(files.items()):
            host = files_dir / spec.name / path.lstrip("/")
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_bytes(data)
            os.chmod(host, mode)
            if os.geteuid() == 0:
                os.chown(host, uid, 0)
            volumes.append(f"./{host.relative_to(files_dir.parent)}:{path}")
    volumes += [f"{v.name}:{v.path}{':ro' if v.read_only else ''}" for v in spec.volumes]
    svc: dict = {
        "image": spec.image,
        "command": spec.command,
        "hostname": spec.name,
        "init": True,
        "labels": {**labels, L.ROLE: spec.role, L.NODE: spec.name},
        "networks": {"cluster": {"aliases": [spec.name, *spec.aliases]}},
    }
    for key, value in (
        ("environment", spec.env),
        ("ports", [f"127.0.0.1::{p}" for p in spec.ports]),
        ("volumes", volumes),
        ("depends_on", _depends(spec, broker)),
        ("user", spec.user),
    ):
        if value:
            svc[key] = value
    health = SIDECAR_HEALTH if spec.role == "kerberos" else HEALTH.get(spec.name)
    if health:
        svc["healthcheck"] = {"test": health, "interval": "1s", "retries": 120}
    if spec.role in ("migrate", "minio-init"):
        svc["restart"] = "no"
    elif spec.restart:
        svc["restart"] = spec.restart
    return svc


def volumes(all_specs: list[NodeSpec], run_id: str, labels: dict[str, str]) -> dict:
    """The named volumes the specs mount (a worker's log disk, a refresher's credential cache,
    a keytab), each
    named like the testbed's (``<run>-<name>``, so `testbed down --run` removes it); memory-
    backed ones never touch the host's disk."""
    out: dict = {}
    for spec in all_specs:
        for v in spec.volumes:
            entry = out.setdefault(v.name, {"name": f"{run_id}-{v.name}", "labels": dict(labels)})
            # the writer's mount (a refresher, the KDC) says who owns it
            if v.tmpfs and ("driver_opts" not in entry or not v.read_only):
                entry["driver_opts"] = {
                    "type": "tmpfs",
                    "device": "tmpfs",
                    "o": f"size={v.size},uid={v.uid},mode={v.mode}",
                }
    return out


def render(topology: Topology, out: Path, run_id: str | None = None) -> Path:
    """Write ``out/docker-compose.yml`` and ``out/files/``; return the compose file's path."""
    run_id = run_id or L.new_run_id("tbc")
    secrets = Secrets.generate()
    secrets.save(out / "files" / "secrets")
    labels = L.run_labels(run_id, detached=True)
    all_specs = specs(topology, secrets)
    doc: dict = {
        "services": {s.name: service(s, out / "files", labels, topology.celery) for s in all_specs},
        "networks": {
            "cluster": {"driver": "bridge", "labels": labels, "driver_opts": dict(NO_EGRESS)}
        },
    }
    if named := volumes(all_specs, run_id, labels):
        doc["volumes"] = named
    (out / ".env").write_text(f"COMPOSE_PROJECT_NAME={run_id}\n")  # compose v1 and v2
    path = out / "docker-compose.yml"
    header = (
        f"# Rendered by `testbed compose` for run {run_id} ({topology.workers} workers, Airflow "
        f"{topology.airflow_version}{', Kerberos' if topology.kerberos else ''}).\n"
        "# Build the images first: `testbed images build`. "
        "Then: docker-compose up -d; `testbed down --run " + run_id + "` removes it.\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=100))
    return path
