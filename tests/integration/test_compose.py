"""The rendered Compose project is runnable: it boots to healthy and `testbed down` removes it."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

from testbed import runtime
from testbed.compose import render
from testbed.topology import Topology
from tests.prerequisites import missing

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]


def test_compose_project_boots_healthy(tmp_path):
    if shutil.which("docker-compose") is None:
        missing("docker-compose not installed: apt-get install -y docker-compose (make test does)")
    path = render(Topology(workers=1), tmp_path, run_id="tbccompose")
    try:
        up = subprocess.run(
            ["docker-compose", "up", "-d"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert up.returncode == 0, f"docker-compose up exited {up.returncode}: {up.stderr[-2000:]}"
        api = next(
            c
            for c in runtime.run_objects("tbccompose")[0]
            if c.labels["io.testbed.node"] == "api-server"
        )
        url = f"http://127.0.0.1:{runtime.host_port(api, 8080)}/api/v2/monitor/health"
        # 240 s: under `make test` the pool's own cluster is up too, on the same 2 cores
        deadline, health = time.monotonic() + 240, {}
        while time.monotonic() < deadline:
            try:
                health = requests.get(url, timeout=3).json()
                if health["scheduler"]["status"] == "healthy":
                    break
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(1)
        assert health.get("scheduler", {}).get("status") == "healthy", health
        assert health["metadatabase"]["status"] == "healthy"
    finally:
        failed = runtime.remove_run("tbccompose")
    assert failed == [] and runtime.run_objects("tbccompose") == ([], [], [])
    assert path.exists()
