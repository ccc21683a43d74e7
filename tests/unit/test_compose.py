"""The rendered Compose project mirrors the cluster's specs."""

from __future__ import annotations

import stat

import yaml

from testbed import labels as L
from testbed.compose import render
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
