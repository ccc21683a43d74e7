"""The pool's choices, with a stand-in cluster (no Docker): when it boots the next scenario's
cluster ahead, which cluster ``get`` hands out, and that nothing booted ahead outlives it."""

from __future__ import annotations

import _thread
import signal
import threading

import pytest

from testbed import pool as pool_mod
from testbed.scenario import from_data
from testbed.topology import Topology

ROOT = pool_mod.__file__.rsplit("/testbed/", 1)[0]


def _one_worker(topology: dict) -> dict:
    """One Celery worker, where the topology runs Celery workers (not on Kubernetes)."""
    return {} if topology.get("backend") else {"workers": 1}


def scenario(steps: list, **topology):
    return from_data(
        {"name": "s", "topology": {**_one_worker(topology), **topology}, "steps": steps},
        base=ROOT,
    )


PLAIN = [{"sleep": "1s"}, {"expect": {"name": "h", "check": "healthy", "probe": "api_health"}}]
UPGRADE = [{"upgrade": {"to": "3.3.2"}}, *PLAIN[1:]]


class FakeCluster:
    """Boots by waiting for its test to let it (``gate``); records what was done to it."""

    made: list[FakeCluster] = []
    gate = threading.Event()
    fail = False
    promote_ends = False

    def __init__(self, topology, *, detached=False, boot_weight=None) -> None:
        self.topology, self.boot_weight = topology, boot_weight
        self.reusable, self.up_done, self.down_reason = True, False, None
        self.cancelled = threading.Event()
        self.promoted_before_up = None  # set when get() promoted it: was the boot still going?
        self.run_id = f"run{len(self.made)}"
        FakeCluster.made.append(self)

    def up(self):
        while not (FakeCluster.gate.is_set() or self.cancelled.is_set()):
            threading.Event().wait(0.01)
        if self.cancelled.is_set() or FakeCluster.fail:
            raise RuntimeError("boot failed")
        self.up_done = True
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    def promote(self) -> None:
        self.promoted_before_up = not self.up_done
        self.boot_weight = None
        if FakeCluster.promote_ends:  # a boot at the default weight ends (here: at once)
            FakeCluster.gate.set()

    def down(self, reason="teardown") -> list[str]:
        self.down_reason = reason
        return []


@pytest.fixture
def fake(monkeypatch):
    FakeCluster.made, FakeCluster.fail, FakeCluster.promote_ends = [], False, False
    FakeCluster.gate = threading.Event()
    FakeCluster.gate.set()
    monkeypatch.setattr(pool_mod, "Cluster", FakeCluster)
    monkeypatch.setattr(pool_mod, "reset", lambda c: 1.5)
    monkeypatch.setattr(pool_mod, "images_present", lambda s: True)
    return FakeCluster


def test_which_scenarios_leave_a_cluster_a_reset_brings_back():
    assert pool_mod.keeps_cluster(scenario(PLAIN))
    assert not pool_mod.keeps_cluster(scenario(UPGRADE, airflow_version="3.3.1"))
    newer = {"add_node": {"node": "scheduler-2", "version": "3.3.2"}}
    assert not pool_mod.keeps_cluster(scenario([newer, *PLAIN], airflow_version="3.2.2"))
    same = {"add_node": {"node": "scheduler-2"}}
    assert pool_mod.keeps_cluster(scenario([same, *PLAIN], airflow_version="3.2.2"))


def test_same_topology_after_a_plain_drill_is_a_reset_not_a_boot_ahead(fake):
    p = pool_mod.ClusterPool()
    first = p.get(Topology(workers=1))
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN))
    assert len(fake.made) == 1
    assert p.get(Topology(workers=1)) is first and p.reset_seconds == [1.5]


def test_after_an_upgrade_the_next_cluster_is_booted_ahead_at_the_low_weight(fake):
    p = pool_mod.ClusterPool()
    first = p.get(Topology(workers=1, airflow_version="3.3.1"))
    fake.gate.clear()  # the boot ahead waits until the drill "ends"
    p.boot_ahead(
        scenario(UPGRADE, airflow_version="3.3.1"), scenario(UPGRADE, airflow_version="3.3.1")
    )
    ahead = fake.made[-1]
    assert ahead is not first and ahead.boot_weight == pool_mod.BOOT_WEIGHT and not ahead.up_done
    fake.gate.set()
    assert p.get(Topology(workers=1, airflow_version="3.3.1")) is ahead and ahead.up_done
    assert first.down_reason == "pool closed" and len(fake.made) == 2


def test_a_boot_ahead_still_going_when_asked_for_gets_the_default_weight(fake):
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    fake.gate.clear()  # the drill ended before the boot ahead did
    fake.promote_ends = True
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=2))
    ahead = fake.made[1]
    assert ahead.boot_weight == pool_mod.BOOT_WEIGHT
    got = []  # get() in a thread: without the promotion it would wait forever
    asking = threading.Thread(target=lambda: got.append(p.get(Topology(workers=2))), daemon=True)
    asking.start()
    asking.join(5)
    assert got == [ahead], "get() waited on a boot ahead left at the low weight"
    assert ahead.promoted_before_up is True and ahead.boot_weight is None and ahead.up_done
    # a boot ahead that ended before its drill came is handed out as it is
    p.boot_ahead(scenario(PLAIN, workers=2), scenario(PLAIN, workers=3))
    p._ahead.thread.join(5)
    assert p.get(Topology(workers=3)).promoted_before_up is None


def test_no_boot_ahead_while_the_next_clusters_images_are_not_built(fake, monkeypatch):
    monkeypatch.setattr(pool_mod, "images_present", lambda s: s.topology.workers != 2)
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=2))  # its images: not yet
    assert p._ahead is None and len(fake.made) == 1
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=3))
    assert p._ahead is not None and p._ahead.topology == Topology(workers=3)


def test_another_topology_is_booted_ahead_and_handed_out(fake):
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=2))
    assert p.get(Topology(workers=2)) is fake.made[1]
    assert p.reset_seconds == []


def test_a_wrong_guess_is_removed_and_the_asked_topology_booted(fake):
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    fake.gate.clear()
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=2))
    wrong = fake.made[1]
    fake.gate.set()
    got = p.get(Topology(workers=3))
    assert wrong.cancelled.is_set() and wrong.down_reason == "booted ahead for another topology"
    assert got is fake.made[2] and got.topology == Topology(workers=3)


def test_a_failed_boot_ahead_is_booted_again_in_the_foreground(fake):
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    fake.fail = True
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=2))
    p._ahead.thread.join(5)
    fake.fail = False
    got = p.get(Topology(workers=2))
    assert got is fake.made[2] and got.up_done and got.boot_weight is None


def test_close_cancels_and_removes_a_boot_still_going_on(fake):
    p = pool_mod.ClusterPool()
    first = p.get(Topology(workers=1))
    fake.gate.clear()  # never let it finish: only the cancel ends it
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=2))
    ahead = fake.made[1]
    assert p.close(reason="done") == []
    assert ahead.cancelled.is_set() and ahead.down_reason == "done (booted ahead, not used)"
    assert first.down_reason == "done"
    assert p._ahead is None and p.cluster is None


def test_a_kubernetes_drills_cluster_boots_ahead_unless_its_backend_cannot(fake, monkeypatch):
    k8s = {"backend": "kubernetes", "executor": "KubernetesExecutor"}
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, **k8s))
    assert len(fake.made) == 2 and p._ahead.topology.backend == "kubernetes"
    p.close()
    # a backend that cannot boot a second cluster beside a running one: never for, never beside
    from testbed.backends.kubernetes import KubernetesBackend

    monkeypatch.setattr(KubernetesBackend, "boots_ahead", False)
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, **k8s))
    p.boot_ahead(scenario(PLAIN, **k8s), scenario(PLAIN, workers=2))
    assert len(fake.made) == 3 and p._ahead is None


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test: a process a shell started in the background
    inherits SIGINT ignored, and interrupt_main then does nothing (the test would hang)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_a_boot_ahead_is_waited_for_leaves_it_to_close(fake, python_ctrl_c):
    """The boot ahead is still the pool's while get() waits for it: the clean-up after a
    Ctrl-C (close) cancels and removes it."""
    p = pool_mod.ClusterPool()
    p.get(Topology(workers=1))
    fake.gate.clear()  # the boot never ends by itself
    p.boot_ahead(scenario(PLAIN), scenario(PLAIN, workers=2))
    ahead = fake.made[1]
    threading.Timer(0.2, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        p.get(Topology(workers=2))
    assert p.close(reason="interrupted") == []
    assert ahead.cancelled.is_set() and ahead.down_reason == "interrupted (booted ahead, not used)"
