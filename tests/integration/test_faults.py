"""Every fault injects for real and heals, and the heal audit sees what is left."""

from __future__ import annotations

import time

import pytest

from testbed import faults, observe, runtime

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]


def wait_for(pred, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    return None


def test_pause_hang_freezes_the_node_and_heals(testbed_cluster):
    c = testbed_cluster
    with faults.Hang(c, "triggerer", "pause"):
        assert runtime.state(c.container("triggerer")) == "paused"
        assert faults.heal_audit(c) == ["triggerer is paused"]
    assert runtime.state(c.container("triggerer")) == "running"
    assert faults.heal_audit(c) == []


def test_sigstop_hang_stops_only_the_main_process(testbed_cluster):
    c = testbed_cluster
    with faults.Hang(c, "scheduler", "sigstop") as f:
        stopped = faults.stopped_pids(c.container("scheduler"))
        assert len(f.pids) == 1 and stopped == f.pids
        # the health server is a child process: it still answers (with 503 once stale)
        first = observe.scheduler_health(c)
        assert first["error"] is None, first
    assert faults.stopped_pids(c.container("scheduler")) == []
    assert wait_for(lambda: observe.scheduler_health(c)["value"] == {"status": 200}, 30)


def test_link_blackhole_is_on_one_link_only(testbed_cluster):
    c = testbed_cluster
    with faults.LinkFault(c, "worker-1->redis", "timeout"):
        problems = faults.heal_audit(c)
        assert problems == [
            "proxy worker-1.redis has toxic tb-link_worker-1-_redis-upstream",
            "proxy worker-1.redis has toxic tb-link_worker-1-_redis-downstream",
        ]
    assert faults.heal_audit(c) == []


def test_link_down_and_partition_heal(testbed_cluster):
    c = testbed_cluster
    with faults.LinkFault(c, "triggerer->postgres", "down"):
        assert faults.heal_audit(c) == ["proxy triggerer.postgres is disabled"]
    with faults.Partition(c, "worker-2"):
        assert faults.heal_audit(c) == ["worker-2 is off the cluster network"]
    with faults.Partition(c, "worker-2", peer="redis"):
        assert len([p for p in faults.heal_audit(c) if "iptables" in p]) == 2
    assert faults.heal_audit(c) == []


def test_heal_runs_when_the_body_fails_and_failures_are_recorded(testbed_cluster):
    c = testbed_cluster
    with (
        pytest.raises(RuntimeError, match="the test's own failure"),
        faults.Hang(c, "dag-processor", "pause"),
    ):
        raise RuntimeError("the test's own failure")
    assert runtime.state(c.container("dag-processor")) == "running"
    broken = faults.LinkFault(c, "scheduler->redis", "latency", latency=100)
    broken.inject()
    broken.proxy = "no-such-proxy"  # the heal will fail against the API
    assert broken.heal() is False
    last = c.history.events("fault")[-1]
    assert last["phase"] == "heal_failed" and "404" in last["error"]
    broken.proxy = "scheduler.redis"
    assert broken.heal() is True and faults.heal_audit(c) == []


def test_overlapping_link_faults_heal_only_their_own_toxics(testbed_cluster):
    c = testbed_cluster
    every = faults.LinkFault(c, "*->redis", "latency", name="slow", latency=50)
    one = faults.LinkFault(c, "worker-1->redis", "timeout", name="cut")
    with every:
        assert sorted(every.proxies) == ["scheduler.redis", "worker-1.redis", "worker-2.redis"]
        with one:
            assert len(faults.heal_audit(c)) == 3 * 2 + 2
        left = faults.heal_audit(c)
        assert len(left) == 3 * 2 and all("tb-slow-" in p for p in left), left
    assert faults.heal_audit(c) == []


def test_reset_heals_what_a_scenario_left_behind(testbed_cluster):
    from testbed.reset import reset

    c = testbed_cluster
    faults.Partition(c, "worker-2", peer="redis").inject()
    faults.Hang(c, "triggerer", "pause").inject()
    faults.LinkFault(c, "scheduler->redis", "latency", name="slow", latency=50).inject()
    assert len(faults.heal_audit(c)) == 2 + 1 + 2
    reset(c)
    assert faults.heal_audit(c) == []


def test_reset_lifts_the_limits_and_ends_the_lock_a_failed_heal_left(testbed_cluster):
    from testbed.faults.database import DbLock
    from testbed.faults.resource import CpuThrottle, MemoryLimit
    from testbed.reset import reset

    c = testbed_cluster
    MemoryLimit(c, "worker-1", memory=900 * 2**20).inject()
    CpuThrottle(c, "worker-2", cpus=0.5).inject()
    lock = DbLock(c, "postgres", table="dag", name="held").inject()
    found = faults.heal_audit(c)
    assert len(found) == 3 and "postgres: session testbed-lock:held is still open" in found[-1]
    reset(c)
    assert faults.heal_audit(c) == []
    lock.heal()  # its session was ended by the reset: the heal still succeeds


def _busy_seconds(c, node: str) -> float:
    """The wall time of the same CPU-bound loop inside ``node``."""
    loop = "i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done"
    t0 = time.monotonic()
    assert c.exec_in(node, ["sh", "-c", loop], timeout=120).exit_code == 0
    return time.monotonic() - t0


def test_cpu_throttle_slows_the_node_and_heals(testbed_cluster):
    from testbed.faults.resource import CpuThrottle, cpu_quota

    c = testbed_cluster
    free = min(_busy_seconds(c, "triggerer") for _ in range(2))
    with CpuThrottle(c, "triggerer", cpus=0.05):
        assert cpu_quota(c.container("triggerer")) == 5000
        assert faults.heal_audit(c) == ["triggerer is CPU-throttled (0.05 CPUs)"]
        starved = _busy_seconds(c, "triggerer")
    assert starved > 4 * free, (starved, free)  # the fault had its effect
    assert cpu_quota(c.container("triggerer")) in (-1, 0)
    assert faults.heal_audit(c) == []


def test_memory_limit_gets_a_hungry_process_oom_killed_and_heals(testbed_cluster):
    from testbed.faults.resource import MemoryLimit, memory_limit, oom_kills

    c = testbed_cluster
    hog = [
        "python3",
        "-c",
        "b = bytearray(600 * 2**20); [b.__setitem__(i, 1) for i in "
        "range(0, len(b), 4096)]; print('held')",
    ]
    assert c.exec_in("worker-1", hog, timeout=60).exit_code == 0  # no limit: it runs
    before = oom_kills(c, "worker-1")
    limit = 600 * 2**20  # the worker_oom_task drill's: the hog outgrows every other process
    with MemoryLimit(c, "worker-1", memory=limit) as fault:
        assert memory_limit(c.container("worker-1")) == limit
        assert faults.heal_audit(c) == [f"worker-1 is memory-limited ({limit / 2**20:g} MiB)"]
        killed = c.exec_in("worker-1", hog, timeout=60)
        assert killed.exit_code == 137 and "held" not in killed.output  # SIGKILLed by the kernel
        assert oom_kills(c, "worker-1") == before + 1
    assert [e["count"] for e in _records(c, fault, "oom_kills")] == [1]
    assert c.exec_in("worker-1", hog, timeout=60).exit_code == 0  # the limit is lifted
    assert faults.heal_audit(c) == []


def _write(c, node: str, path: str) -> str:
    """Append 64 KiB to a file in ``path`` on ``node`` as Airflow's user: "" or the error."""
    code = f"open('{path}/probe.txt', 'ab').write(b'x' * 65536)"
    r = c.exec_in(node, ["python3", "-c", code], timeout=30)
    return "" if r.exit_code == 0 else r.output.strip().splitlines()[-1]


def test_disk_full_fills_a_workers_log_disk_and_heals(testbed_cluster):
    from testbed.faults.disk import LOG_DISK, DiskFull

    c = testbed_cluster
    assert _write(c, "worker-1", LOG_DISK) == ""
    with DiskFull(c, "worker-1") as fault:
        assert "No space left on device" in _write(c, "worker-1", LOG_DISK)
        c.exec_in("worker-1", ["rm", f"{LOG_DISK}/probe.txt"], timeout=10)  # space freed...
        time.sleep(1)
        assert "No space left on device" in _write(c, "worker-1", LOG_DISK)  # ...is taken again
        assert _write(c, "worker-2", LOG_DISK) == ""  # one node's disk only
        assert faults.heal_audit(c) == [f"worker-1: {LOG_DISK} is still filled"]
    (filled,) = _records(c, fault, "filled")
    assert filled["size"] == 256 * 2**20 and filled["free"] < 2**20
    assert _write(c, "worker-1", LOG_DISK) == ""
    assert faults.heal_audit(c) == []
    keeper = c.exec_in("worker-1", ["pgrep", "-f", "[t]estbed-fill-keeper"], timeout=10)
    assert keeper.exit_code == 1, keeper.output  # the keeper ended with the heal
    with pytest.raises(faults.FaultError, match="root filesystem"):  # never the host's disk
        DiskFull(c, "worker-1", path="/tmp").inject()


def _lookup(c, node: str, name: str) -> int:
    return c.exec_in(node, ["getent", "hosts", name], timeout=30).exit_code


def test_dns_failure_breaks_one_nodes_lookups_and_heals(testbed_cluster):
    from testbed.faults.network import DnsFailure
    from testbed.reset import reset

    c = testbed_cluster
    assert _lookup(c, "worker-1", "postgres") == 0
    with DnsFailure(c, "worker-1"):
        assert _lookup(c, "worker-1", "postgres") != 0
        assert _lookup(c, "worker-1", "worker-1") == 0  # its own name: /etc/hosts
        assert _lookup(c, "worker-2", "postgres") == 0
        (left,) = faults.heal_audit(c)
        assert left.startswith("worker-1: name lookups still fail")
    assert _lookup(c, "worker-1", "postgres") == 0 and faults.heal_audit(c) == []
    DnsFailure(c, "scheduler").inject()  # a heal that never came: the reset restores it
    reset(c)
    assert _lookup(c, "scheduler", "postgres") == 0 and faults.heal_audit(c) == []


def _records(c, fault, phase: str) -> list[dict]:
    return [e for e in c.history.events("fault") if (e["name"], e["phase"]) == (fault.name, phase)]


def _execution_api_seconds(c, node: str) -> float:
    """How long ``node`` waits for the Execution API's health, by the URL its Airflow uses."""
    code = (
        "import os, time, urllib.request; t = time.monotonic(); "
        "url = os.environ['AIRFLOW__CORE__EXECUTION_API_SERVER_URL'].rstrip('/') + '/health'; "
        "urllib.request.urlopen(url, timeout=30).read(); print(time.monotonic() - t)"
    )
    r = c.exec_in(node, ["python3", "-c", code], timeout=60)
    assert r.exit_code == 0, r.output
    return float(r.output.strip().splitlines()[-1])


def test_a_workers_execution_api_calls_go_through_its_own_link(testbed_cluster):
    c = testbed_cluster
    base = max(_execution_api_seconds(c, "worker-1") for _ in range(2))
    with faults.LinkFault(c, "worker-1->api-server", "latency", latency=1500):
        slow = _execution_api_seconds(c, "worker-1")
        other = _execution_api_seconds(c, "worker-2")  # its own link: no latency
    assert slow > base + 1.2, (slow, base)
    assert other < 1.2, other
    assert faults.heal_audit(c) == []
