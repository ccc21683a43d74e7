"""The rendered Compose project mirrors the cluster's specs."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest
import yaml

from testbed.compose import render
from testbed.core import labels as L
from testbed.topology import Topology


def test_render_mirrors_the_topology(tmp_path):
    path = render(Topology(workers=3), tmp_path, run_id="tbcX")
    doc = yaml.safe_load(path.read_text())
    services = doc["services"]
    assert {"worker-3", "scheduler", "toxiproxy", "migrate", "minio-init"} <= set(services)
    sched = services["scheduler"]
    assert sched["hostname"] == "scheduler" and sched["ports"] == ["127.0.0.1::8974"]
    assert sched["labels"][L.RUN] == "tbcX" and sched["labels"][L.DETACHED] == "1"
    assert sched["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["command"] == ["airflow", "db", "migrate"]
    net = doc["networks"]["cluster"]
    assert net["driver_opts"] == {"com.docker.network.bridge.enable_ip_masquerade": "false"}


def test_files_are_mounted_private_and_secrets_not_inline(tmp_path):
    path = render(Topology(workers=1), tmp_path, run_id="tbcY")
    text = path.read_text()
    doc = yaml.safe_load(text)
    mounts = doc["services"]["worker-1"]["volumes"]
    conn = next(m for m in mounts if m.endswith(":/run/testbed/sql_alchemy_conn"))
    host = tmp_path / conn.split(":", 1)[0]
    assert stat.S_IMODE(host.stat().st_mode) == 0o600
    assert "@toxiproxy:" in host.read_text()
    assert host.read_text().split(":")[2].split("@")[0] not in text  # the password is not inline
    assert any(m.endswith(":/opt/airflow/dags/smoke.py") for m in mounts)


def _kerberos(tmp_path, workers: int = 2) -> dict:
    return yaml.safe_load(
        render(Topology(workers=workers, kerberos=True), tmp_path, "tbcK").read_text()
    )


def test_kerberos_export_has_every_piece(tmp_path):
    doc = _kerberos(tmp_path)
    services, volumes = doc["services"], doc["volumes"]
    assert {"kdc", "pg-krb", "worker-1-kerberos", "worker-2-kerberos"} <= set(services)
    # dotted names on the network (no reverse DNS tricks), as the cluster has them
    assert "kdc.testbed.internal" in services["kdc"]["networks"]["cluster"]["aliases"]
    assert "pg-krb.testbed.internal" in services["pg-krb"]["networks"]["cluster"]["aliases"]
    # the shared cache: memory-backed, written by the refresher, read-only on the worker
    assert "worker-1-ccache:/var/lib/airflow-krb" in services["worker-1-kerberos"]["volumes"]
    assert "worker-1-ccache:/var/lib/airflow-krb:ro" in services["worker-1"]["volumes"]
    cache = volumes["worker-1-ccache"]
    assert cache["name"] == "tbcK-worker-1-ccache" and cache["labels"][L.RUN] == "tbcK"
    assert cache["driver_opts"] == {
        "type": "tmpfs",
        "device": "tmpfs",
        "o": "size=1m,uid=50000,mode=0700",
    }
    # the refresher restarts on failure (airflow kerberos exits when a kinit fails)
    assert services["worker-1-kerberos"]["restart"] == "on-failure"
    assert services["worker-1-kerberos"]["command"] == ["airflow", "kerberos"]
    # boot order: KDC healthy (its keytabs exported) -> target and refreshers -> workers
    for node in ("pg-krb", "worker-2-kerberos"):
        assert services[node]["depends_on"] == {"kdc": {"condition": "service_healthy"}}
    assert services["worker-2"]["depends_on"]["worker-2-kerberos"] == {
        "condition": "service_healthy"
    }
    assert services["kdc"]["healthcheck"]["test"][1] == "kinit"
    assert services["worker-2-kerberos"]["healthcheck"]["test"][1:3] == ["klist", "-s"]
    assert "depends_on" not in services["kdc"]


def test_kerberos_export_keytabs_go_from_the_kdc_to_their_holder_only(tmp_path):
    doc = _kerberos(tmp_path)
    services, volumes = doc["services"], doc["volumes"]
    exports = services["kdc"]["environment"]["TB_KRB_EXPORT"].split()
    assert exports == [
        "postgres/pg-krb.testbed.internal@TESTBED.INTERNAL:/run/testbed/keytabs/pg-krb/pg.keytab:0",
        "airflow/worker-1.testbed.internal@TESTBED.INTERNAL:"
        "/run/testbed/keytabs/worker-1-kerberos/krb5.keytab:50000",
        "airflow/worker-2.testbed.internal@TESTBED.INTERNAL:"
        "/run/testbed/keytabs/worker-2-kerberos/krb5.keytab:50000",
    ]
    for holder, uid in (("pg-krb", 0), ("worker-1-kerberos", 50000)):
        vol = f"{holder}-keytab"
        assert volumes[vol]["driver_opts"]["type"] == "tmpfs"  # never the host's disk
        assert f"uid={uid}," in volumes[vol]["driver_opts"]["o"]
        users = sorted(
            n
            for n, s in services.items()
            if any(m.startswith(f"{vol}:") for m in s.get("volumes", []))
        )
        assert users == sorted(["kdc", holder])
        assert f"{vol}:/run/testbed/keytab:ro" in services[holder]["volumes"]
    sidecar_env = services["worker-1-kerberos"]["environment"]
    assert sidecar_env["AIRFLOW__KERBEROS__KEYTAB"] == "/run/testbed/keytab/krb5.keytab"
    assert services["pg-krb"]["environment"]["TB_PG_KEYTAB"] == "/run/testbed/keytab/pg.keytab"
    # no keytab, and nothing naming one, on a worker
    worker = services["worker-1"]
    assert not any("keytab" in m for m in worker["volumes"])
    assert not any("KEYTAB" in k or "KTNAME" in k for k in worker["environment"])


def test_kerberos_export_files_and_secrets(tmp_path):
    doc = _kerberos(tmp_path, workers=1)
    text = (tmp_path / "docker-compose.yml").read_text()
    kdc_mounts = doc["services"]["kdc"]["volumes"]
    pw = next(m for m in kdc_mounts if m.endswith(":/run/testbed/kdc_master_password"))
    host = tmp_path / pw.split(":", 1)[0]
    assert stat.S_IMODE(host.stat().st_mode) == 0o600 and host.read_text() not in text
    conf = next(m for m in doc["services"]["worker-1"]["volumes"] if m.endswith(":/etc/krb5.conf"))
    krb5 = (tmp_path / conf.split(":", 1)[0]).read_text()
    assert "rdns = false" in krb5 and "kdc.testbed.internal:88" in krb5
    # the sidecar gets none of the cluster's secrets
    sidecar = doc["services"]["worker-1-kerberos"]
    assert not any("/run/testbed/sql_alchemy_conn" in m for m in sidecar["volumes"])
    assert not any(k.endswith("_CMD") for k in sidecar["environment"])


def test_plain_export_is_unchanged_by_kerberos(tmp_path):
    doc = yaml.safe_load(render(Topology(workers=1), tmp_path, run_id="tbcP").read_text())
    assert "kdc" not in doc["services"]
    (logs,) = doc["volumes"].values()  # only the worker's log disk, bounded
    assert logs["name"] == "tbcP-worker-1-logs" and "size=256m" in logs["driver_opts"]["o"]
    assert "worker-1-kerberos" not in doc["services"]
    assert set(doc["services"]["worker-1"]["depends_on"]) == {
        "migrate",
        "minio-init",
        "redis",
        "toxiproxy",
    }


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_kerberos_export_is_a_valid_compose_file(tmp_path):
    """docker-compose's own parser (no engine needed) accepts the file as it is."""
    _kerberos(tmp_path)
    r = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr[-2000:]


def test_two_api_servers_export_share_one_name_and_is_valid(tmp_path):
    """`testbed compose --api-servers 2`: api-server-2 beside api-server, both answering to
    the name the workers' Execution API URL uses, each with its own Postgres link."""
    path = render(Topology(workers=1, api_servers=2), tmp_path, run_id="tbcA")
    services = yaml.safe_load(path.read_text())["services"]
    for name in ("api-server", "api-server-2"):
        assert "api-server" in services[name]["networks"]["cluster"]["aliases"]
        assert services[name]["ports"] == ["127.0.0.1::8080"]
    proxies = (tmp_path / "files" / "toxiproxy").rglob("*.json")
    text = " ".join(p.read_text() for p in proxies)
    assert "api-server-2.postgres" in text
    if shutil.which("docker-compose"):
        r = subprocess.run(
            ["docker-compose", "config", "-q"], cwd=tmp_path, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr[-2000:]
