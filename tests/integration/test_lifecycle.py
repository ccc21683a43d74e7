"""Nothing is left behind: teardown, Ctrl-C during `testbed up`, gc of dead runs, image no-ops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from testbed import runtime
from testbed.cluster import Cluster
from testbed.core import labels as L
from testbed.images import build as image_build
from testbed.images import catalog
from testbed.topology import Topology
from tests.integration.terminal import default_signals

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]


def labelled(run_id: str) -> list[str]:
    containers, networks, volumes = runtime.run_objects(run_id)
    return [o.name for o in containers + networks] + [v.name for v in volumes]


def test_down_leaves_zero_labelled_objects():
    cluster = Cluster(Topology(workers=1)).up()
    objects = labelled(cluster.run_id)  # every node, the network, each worker's log disk
    assert len(objects) == len(cluster.topology.nodes) + 1 + 1, objects
    assert f"{cluster.run_id}-worker-1-logs" in objects
    assert cluster.down() == []
    assert labelled(cluster.run_id) == []
    assert (cluster.dir / "logs" / "scheduler.log").stat().st_size > 0


def test_ctrl_c_during_up_leaves_nothing(tmp_path):
    env = {**os.environ, "TESTBED_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "testbed", "up", "--workers", "1", "--no-build"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    flt = {"label": f"{L.PID}={proc.pid}"}
    deadline = time.monotonic() + 60
    while not runtime.containers(flt):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "testbed up created no container in 60s"
        time.sleep(0.2)
    time.sleep(2)  # mid-boot: some nodes created, others still starting
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert runtime.containers(flt) == []
    assert runtime.client().networks.list(filters=flt) == []


def test_listing_skips_a_container_removed_between_list_and_inspect():
    """A run's one-shot helper that goes away mid-listing is not an error (CI saw a 404)."""
    c = runtime.client()
    lab = L.run_labels("tblistrace")
    gone = c.containers.create(catalog.services_ref().name, ["true"], labels=lab)
    kept = c.containers.create(catalog.services_ref().name, ["true"], labels=lab)
    real_list = c.api.containers

    def list_then_remove(**kw):
        rows = real_list(**kw)
        gone.remove(force=True)
        return rows

    c.api.containers = list_then_remove
    try:
        found = runtime.containers({"label": f"{L.RUN}=tblistrace"})
    finally:
        c.api.containers = real_list
        kept.remove(force=True)
    assert [x.id for x in found] == [kept.id]


def test_gc_removes_objects_of_dead_runs_only():
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    dead = {**L.run_labels("tbgcdead"), L.PID: str(dead_pid.pid)}
    alive = L.run_labels("tbgcalive")
    c = runtime.client()
    nets = [c.networks.create(f"{lab[L.RUN]}-net", labels=lab) for lab in (dead, alive)]
    try:
        runs, failed = runtime.gc()
        assert "tbgcdead" in runs and "tbgcalive" not in runs and failed == []
        assert labelled("tbgcdead") == [] and labelled("tbgcalive") != []
    finally:
        for n in nets:
            try:
                n.remove()
            except Exception:
                pass


def test_image_rebuild_with_nothing_changed_is_a_noop():
    results = image_build.ensure(("3.3.2",))
    assert [what for _, what in results] == ["present"] * len(results)
