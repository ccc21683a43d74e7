"""Faults (Jepsen's nemeses): each a context manager whose ``heal`` is idempotent and always runs.

``with Hang(cluster, "scheduler"):`` injects on enter and heals on exit, even when the body
raised. Inject and heal are recorded in the run's history; a heal that fails is recorded as
``heal_failed`` and reported by the heal audit, and never replaces the body's own exception.

Kinds: hang (``docker pause`` of the node, or SIGSTOP of its main process only, which leaves
helper processes such as the scheduler's health server alive), kill (SIGKILL), stop (SIGTERM
with a deadline), restart, replace (a fresh container for the same node), partition (a node cut
off the cluster network, or one link between two nodes dropped with iptables), and link faults
through Toxiproxy (latency, timeout/blackhole, bandwidth, reset_peer, down) on one link or a
glob of links (``*->redis``); and remove (the node's container gone, its disk with it). With
Kerberos: rotate_key (new keys on the KDC for the principal a node's keytab holds; the heal
deploys the new keytab) and clock_skew (a node re-created under libfaketime). A replace may
carry Airflow options (the fresh node runs with them; the heal restores the topology's).
"""

from __future__ import annotations

import fnmatch
import os
import re
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import docker.errors
import requests

from testbed import iptables, runtime, timescale
from testbed.errors import FaultError
from testbed.services import toxiproxy
from testbed.topology import K8S_NODE

if TYPE_CHECKING:
    from testbed.cluster import Cluster


class Fault:
    kind = "fault"

    def __init__(self, cluster: Cluster, target: str, *, name: str | None = None) -> None:
        self.cluster, self.target = cluster, target
        self.name = name or f"{self.kind}:{target}"
        self.injected = False
        self._lock = threading.Lock()  # a `for` timer and a heal step may race

    # subclasses implement these two
    def _inject(self) -> None:
        raise NotImplementedError

    def _heal(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {}

    def inject(self) -> Fault:
        """Inject under the fault's lock: a heal (the ``for`` timer's, or ``finish()``'s after
        an inject abandoned at its bound) waits for an inject under way, so the inject can
        never land after its heal."""
        with self._lock:
            self.cluster.history.append(
                "fault",
                phase="inject",
                name=self.name,
                fault=self.kind,
                target=self.target,
                **self.describe(),
            )
            self.injected = True
            self._inject()
        return self

    def heal(self) -> bool:
        """Undo the fault (idempotent). Returns False, and records why, when the heal failed."""
        with self._lock:
            return self._heal_once()

    def _heal_once(self) -> bool:
        if not self.injected:
            return True
        try:
            self._heal()
        except Exception as exc:  # recorded; must not hide the caller's verdict
            self.record("heal_failed", error=str(exc))
            return False
        self.injected = False
        self.record("heal")
        return True

    def record(self, phase: str, **fields: Any) -> None:
        """One ``fault`` event of this fault in the history."""
        self.cluster.history.append(
            "fault", phase=phase, name=self.name, fault=self.kind, target=self.target, **fields
        )

    def __enter__(self) -> Fault:
        return self.inject()

    def __exit__(self, *exc) -> None:
        self.heal()

    @property
    def container(self):
        return self.cluster.container(self.target)


class Hang(Fault):
    """Freeze a node: ``mode="pause"`` (the whole container) or ``"sigstop"`` (main process);
    with ``process``, SIGSTOP every process of that name inside the node instead (e.g. the
    Kubernetes node's ``kube-apiserver``, ``etcd`` or ``kubelet``: one piece of the control
    plane or the node agent hangs, everything else runs on)."""

    kind = "hang"

    def __init__(
        self,
        cluster: Cluster,
        target: str,
        mode: str | None = None,
        process: str | None = None,
        **kw,
    ) -> None:
        mode = mode or ("sigstop" if process else "pause")
        if mode not in ("pause", "sigstop") or (process and mode != "sigstop"):
            raise FaultError(f"hang mode {mode!r}; allowed: pause, sigstop (sigstop with process)")
        super().__init__(cluster, target, **kw)
        self.mode, self.process = mode, process
        self.pids: list[int] = []

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, **({"process": self.process} if self.process else {})}

    def _inject(self) -> None:
        if self.mode == "pause":
            self.container.pause()
            return
        if self.process:
            self.pids = named_pids(self.container, self.process)
        else:
            self.pids = [main_pid(self.container)]
        for pid in self.pids:
            os.kill(pid, signal.SIGSTOP)
        if left := wait_stopped(self.pids):
            raise FaultError(f"SIGSTOP sent, but pid(s) {left} not stopped after {STOP_WAIT:g}s")
        if self.process:
            self.record("stopped", pids=self.pids)

    def _heal(self) -> None:
        if self.mode == "pause":
            if runtime.state(self.container) == "paused":
                self.container.unpause()
            return
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def named_pids(container, name: str) -> list[int]:
    """Host pids of the node's processes whose program is ``name`` (argv[0]'s base name)."""
    container.reload()
    out = []
    for pid in descendants(container.attrs["State"]["Pid"]):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv0 = fh.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.basename(argv0) == name:
            out.append(pid)
    if not out:
        raise FaultError(f"{container.name}: no process named {name!r}")
    return out


def main_pid(container) -> int:
    """Host pid of the node's main process: the child of the container's init (docker-init)."""
    container.reload()
    init_pid = container.attrs["State"]["Pid"]
    children = [int(p) for p in _children(init_pid)]
    if not children:
        raise FaultError(f"{container.name}: no main process under init pid {init_pid}")
    return children[0]


def _children(pid: int) -> list[str]:
    """The children of every thread of ``pid`` (a Go program, e.g. containerd's shim, forks
    from any of its threads, not only the main one)."""
    try:
        tasks = sorted(os.listdir(f"/proc/{pid}/task"), key=lambda t: t != str(pid))
        out: list[str] = []
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    out += fh.read().split()
            except FileNotFoundError:  # the thread ended meanwhile
                continue
        return out
    except OSError as exc:
        raise FaultError(f"cannot read the process tree of pid {pid}: {exc}") from None


class Kill(Fault):
    """Signal a node: SIGKILL (all its processes) by default; another ``signal`` (TERM, INT,
    QUIT, HUP) goes to its main process through the container's init and is recorded as a
    ``signal`` event (``drained_cleanly`` judges from it). The heal starts the node again unless
    it was replaced; after a gentler signal it first waits, up to ``exit_wait`` seconds, for
    the node to finish what the signal started (a warm shutdown drains its tasks)."""

    kind = "kill"

    def __init__(
        self, cluster: Cluster, target: str, signal: str = "KILL", exit_wait: float = 150, **kw
    ) -> None:
        super().__init__(cluster, target, **kw)
        self.signal, self.exit_wait = signal, exit_wait
        self._started = None  # the signalled container's StartedAt: its run the heal waits on

    def describe(self) -> dict[str, Any]:
        return {} if self.signal == "KILL" else {"signal": self.signal}

    def _inject(self) -> None:
        if self.signal != "KILL":
            self._started = runtime.started_at(self.container)
            self.record_signal(self.signal)
        self.container.kill(signal=f"SIG{self.signal}")

    def record_exit(self) -> None:
        """The node's state once it stopped, with Docker's ``FinishedAt`` (the engine's watcher
        may miss an exit that a heal follows at once, and a heal may look late): a drain's
        time is measured from the signal to ``finished``."""
        c = self.container
        state = runtime.state(c)  # reloads: FinishedAt is fresh
        finished = runtime.docker_time(c.attrs["State"].get("FinishedAt", ""))
        when = {"finished": finished.timestamp()} if finished else {}
        self.cluster.history.append("container", node=self.target, state=state, **when)

    def record_signal(self, sig: str) -> None:
        self.cluster.history.append("signal", node=self.target, signal=sig, fault=self.name)

    def _heal(self) -> None:
        if self.target.startswith("migrate"):
            return  # a one-shot migrator is not restarted: a drill re-runs it as a new node
        if runtime.state(self.container) == "paused":  # frozen by another fault meanwhile
            self.container.unpause()
        if self.signal != "KILL" and not self._exited_within(self.exit_wait):
            self.record("still_running", after_s=self.exit_wait)
            self.container.stop(timeout=10)
        if runtime.state(self.container) != "running":
            self.container.start()

    def _exited_within(self, seconds: float) -> bool:
        """The process the signal went to has exited (the container stopped, or was started
        again since: e.g. by the heal of an earlier signal to the same node)."""
        deadline = time.monotonic() + seconds
        c = self.container
        while runtime.state(c) == "running" and runtime.started_at(c) == self._started:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        if runtime.state(c).startswith("exited"):
            self.record_exit()
        return True


class Stop(Kill):
    """Graceful stop: SIGTERM, then SIGKILL after ``deadline`` seconds (docker stop); the
    TERM is recorded as a ``signal`` event like a kill's."""

    kind = "stop"

    def __init__(self, cluster: Cluster, target: str, deadline: float = 30, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.deadline = deadline

    def describe(self) -> dict[str, Any]:
        return {"deadline": self.deadline}

    def _inject(self) -> None:
        self.record_signal("TERM")
        self.container.stop(timeout=int(self.deadline))
        self.record_exit()


class Restart(Fault):
    kind = "restart"

    def _inject(self) -> None:
        self.container.restart(timeout=10)

    def _heal(self) -> None:
        if runtime.state(self.container) != "running":
            self.container.start()


class Replace(Fault):
    """Remove the node's container and boot a fresh one with the same spec and hostname.

    With ``config`` ({"section.key": value}, Airflow options), the fresh node runs with those
    options instead (``AIRFLOW__SECTION__KEY`` in its environment, e.g. a sidecar with another
    ``kerberos.reinit_frequency``), and the heal replaces it again with the topology's own
    node: the fault is the setting, its heal the fix."""

    kind = "replace"

    def __init__(self, cluster: Cluster, target: str, config: dict | None = None, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.config = {k: str(v) for k, v in (config or {}).items()}

    def describe(self) -> dict[str, Any]:
        if not self.config:
            return {}
        in_force = self.in_force()
        return {"config": self.config} | ({"in_force": in_force} if in_force != self.config else {})

    def in_force(self) -> dict[str, str]:
        """The options as the node gets them: a timer scaled by the cluster's timescale."""
        ts = self.cluster.topology.timescale if self.cluster is not None else 1.0
        return {k: timescale.option(k, v, ts) for k, v in self.config.items()}

    def _inject(self) -> None:
        self.cluster.replace_node(self.target, env=config_env(self.in_force()))

    def _heal(self) -> None:
        if self.config:  # back to the topology's settings
            self.cluster.replace_node(self.target)
        elif runtime.state(self.container) != "running":
            self.container.start()


def config_env(config: dict[str, str]) -> dict[str, str]:
    """{"kerberos.reinit_frequency": "150"} -> {"AIRFLOW__KERBEROS__REINIT_FREQUENCY": "150"}."""
    out = {}
    for dotted, value in config.items():
        section, _, key = dotted.partition(".")
        out[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    return out


# libfaketime (the services image links it here): every process of the node reads a clock
# ``FAKETIME`` seconds off; monotonic clocks stay true (timeouts and latches keep working).
FAKETIME_LIB = "/usr/local/lib/libfaketime.so.1"
SKEWABLE = ("pg-krb",)  # services-image nodes a fresh container leaves as they were


def faketime_env(offset: float) -> dict[str, str]:
    return {
        "LD_PRELOAD": FAKETIME_LIB,
        "FAKETIME": f"{round(offset):+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        # no shared state between processes: a root entry point's semaphore would hang every
        # process it starts as another user (Postgres' postmaster, in a futex, before its
        # first log line)
        "FAKETIME_DISABLE_SHM": "1",
    }


class ClockSkew(Fault):
    """One node's clock ``offset`` seconds off (negative: behind). Containers share the host's
    clock and cannot set their own, so the node is replaced by one whose processes run under
    libfaketime (``LD_PRELOAD``); the heal replaces it again with a true clock. Only nodes of
    the services image that a fresh container re-creates whole (:data:`SKEWABLE`): the
    kerberized Postgres (a KDC's fresh container would be a new realm database)."""

    kind = "clock_skew"

    def __init__(self, cluster: Cluster, target: str, offset: float = 600, **kw) -> None:
        if target not in SKEWABLE:
            raise FaultError(f"clock_skew on {target!r}; allowed: {', '.join(SKEWABLE)}")
        super().__init__(cluster, target, **kw)
        self.offset = offset

    def describe(self) -> dict[str, Any]:
        return {"offset": self.offset}

    def _inject(self) -> None:
        self.cluster.replace_node(self.target, env=faketime_env(self.offset))

    def _heal(self) -> None:
        self.cluster.replace_node(self.target)


class RotateKey(Fault):
    """New random keys for the principal whose keytab ``target`` holds (``kadmin.local cpw
    -randkey``: its kvno goes up on the KDC), while the holder keeps the old keytab: the
    kerberized Postgres (``pg-krb``, its service principal) or a worker's ticket refresher
    (``worker-N-kerberos``, the worker's principal). The heal deploys the new keys: the
    current keytab exported from the KDC into the holder (the server in place, no restart: it
    reads its keytab at every connection; the refresher restarted, so its kinit uses it)."""

    kind = "rotate_key"

    def __init__(self, cluster: Cluster, target: str, **kw) -> None:
        from testbed.services import kerberos, pg_krb

        if target == pg_krb.PG_KRB:
            self.principal = pg_krb.SERVICE_PRINCIPAL
        elif target.endswith(kerberos.SIDECAR_SUFFIX):
            self.principal = kerberos.worker_principal(kerberos.worker_of(target))
        else:
            raise FaultError(
                f"rotate_key on {target!r}: the target is the node holding the keytab: "
                "pg-krb or a worker's refresher (worker-N-kerberos)"
            )
        super().__init__(cluster, target, **kw)
        self.kvno: dict[str, int | None] = {}

    def describe(self) -> dict[str, Any]:
        return {"principal": self.principal}

    def _inject(self) -> None:
        from testbed.services import kdc

        before = kdc.kvno(self.cluster, self.principal)
        kdc.rotate(self.cluster, self.principal)
        after = kdc.kvno(self.cluster, self.principal)
        if after is None or before is None or after <= before:
            raise FaultError(f"{self.principal}: kvno {before} -> {after} (not rotated)")
        self.kvno = {"before": before, "after": after}
        self.record("rotated", principal=self.principal, **self.kvno)

    def _heal(self) -> None:
        from testbed.services import kdc, kerberos, pg_krb

        data = kdc.keytab(self.cluster, self.principal)
        if self.target == pg_krb.PG_KRB:
            pg_krb.install_keytab(self.cluster, data)
        else:
            kerberos.install_keytab(self.cluster, self.target, data)
        kvno = kdc.kvno(self.cluster, self.principal)
        self.record("deployed", principal=self.principal, kvno=kvno)


class Remove(Fault):
    """Remove the node's container entirely (its local disk with it); the heal boots a fresh
    node of the same name, so the cluster is whole again for the next scenario."""

    kind = "remove"

    def _inject(self) -> None:
        self.cluster.remove_node(self.target)

    def _heal(self) -> None:
        if self.target not in self.cluster.nodes:
            self.cluster.add_node(self.target)


KERBEROS_FAULTS: dict[str, type[Fault]] = {"rotate_key": RotateKey, "clock_skew": ClockSkew}


class Partition(Fault):
    """Cut ``target`` off the cluster network, or (``peer=``) only its link to one other node."""

    kind = "partition"

    def __init__(self, cluster: Cluster, target: str, peer: str | None = None, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.peer = peer

    def describe(self) -> dict[str, Any]:
        return {"peer": self.peer} if self.peer else {}

    def _inject(self) -> None:
        if self.peer is None:
            self.cluster.network.disconnect(self.container, force=True)
        else:
            for rule in self._rules():
                iptables.apply("-I", rule)

    def _heal(self) -> None:
        if self.peer is None:
            if not on_network(self.container, self.cluster.network.name):
                aliases = self.cluster.aliases(self.target)
                self.cluster.network.connect(self.container, aliases=aliases)
        else:
            for rule in self._rules():
                while iptables.apply("-C", rule, check=False) == 0:
                    iptables.apply("-D", rule)

    def _rules(self) -> list[list[str]]:
        a, b = ip_of(self.container), ip_of(self.cluster.container(self.peer))
        tag = iptables.tag(self.cluster.run_id)
        return [
            ["DOCKER-USER", "-s", a, "-d", b, *tag, "-j", "DROP"],
            ["DOCKER-USER", "-s", b, "-d", a, *tag, "-j", "DROP"],
        ]


def ip_of(container) -> str:
    container.reload()
    nets = container.attrs["NetworkSettings"]["Networks"]
    return next(iter(nets.values()))["IPAddress"]


def on_network(container, network: str) -> bool:
    container.reload()
    return network in container.attrs["NetworkSettings"]["Networks"]


TOXICS = {
    "latency": ("latency", {"latency": 1000, "jitter": 0}),
    "timeout": ("timeout", {"timeout": 0}),  # blackhole: data is dropped, nothing is closed
    # A stall: data is held (an hour's latency) and delivered when the toxic is removed, so the
    # link heals cleanly. A blackhole's dropped bytes leave the client either waiting forever or
    # with a broken protocol stream (the dag-processor then exits 1): not a heal.
    "stall": ("latency", {"latency": 3_600_000, "jitter": 0}),
    "bandwidth": ("bandwidth", {"rate": 16}),
    "reset_peer": ("reset_peer", {"timeout": 0}),
}


class LinkFault(Fault):
    """A Toxiproxy fault on one link (e.g. ``scheduler->postgres``): a toxic, or ``down``."""

    kind = "link"

    def __init__(self, cluster: Cluster, link: str, toxic: str, **params) -> None:
        name = params.pop("name", None)
        super().__init__(cluster, link, name=name)
        if toxic not in (*TOXICS, "down"):
            raise FaultError(f"toxic {toxic!r}; allowed: {', '.join([*TOXICS, 'down'])}")
        self.proxies = link_proxies(cluster, link)
        self.toxic, self.params = toxic, params

    @property
    def proxy(self) -> str:
        return self.proxies[0]

    @proxy.setter
    def proxy(self, value: str) -> None:
        self.proxies = [value]

    def describe(self) -> dict[str, Any]:
        return {"toxic": self.toxic, "proxies": self.proxies, **self.params}

    def _url(self, proxy: str, path: str = "") -> str:
        return f"{toxiproxy.api(self.cluster)}/proxies/{proxy}{path}"

    def _inject(self) -> None:
        for proxy in self.proxies:
            self._inject_one(proxy)

    def _inject_one(self, proxy: str) -> None:
        if self.toxic == "down":
            _ok(requests.post(self._url(proxy), json={"enabled": False}, timeout=5))
            return
        kind, defaults = TOXICS[self.toxic]
        for stream in ("upstream", "downstream"):
            body = {
                "name": self._toxic_name(stream),
                "type": kind,
                "stream": stream,
                "attributes": {**defaults, **self.params},
            }
            _ok(requests.post(self._url(proxy, "/toxics"), json=body, timeout=5))

    def _toxic_name(self, stream: str) -> str:
        return f"tb-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.name)}-{stream}"

    def _heal(self) -> None:
        """Undo only this fault: its own toxics, or the proxy it disabled (faults may overlap)."""
        for proxy in self.proxies:
            url = self._url(proxy)
            if self.toxic == "down":
                _ok(requests.post(url, json={"enabled": True}, timeout=5))
                continue
            _ok(requests.get(url, timeout=5))  # the proxy itself must exist
            for stream in ("upstream", "downstream"):
                r = requests.delete(f"{url}/toxics/{self._toxic_name(stream)}", timeout=5)
                if r.status_code not in (204, 404):
                    _ok(r)


def link_proxies(cluster: Cluster, pattern: str) -> list[str]:
    """Proxy names of the links matching ``client->upstream`` (``*`` globs allowed)."""
    links = cluster.topology.links()
    found = [k.name for k in links if fnmatch.fnmatchcase(k.label, pattern)]
    if not found:
        raise FaultError(f"no link {pattern!r}; links: {', '.join(k.label for k in links)}")
    return found


def heal_proxy(cluster: Cluster, proxy: str) -> None:
    """Enable the proxy and delete every toxic on it."""
    url = f"{toxiproxy.api(cluster)}/proxies/{proxy}"
    _ok(requests.post(url, json={"enabled": True}, timeout=5))
    for toxic in requests.get(f"{url}/toxics", timeout=5).json():
        r = requests.delete(f"{url}/toxics/{toxic['name']}", timeout=5)
        if r.status_code not in (204, 404):
            _ok(r)


def _ok(r: requests.Response) -> None:
    if r.status_code >= 300:
        raise FaultError(f"toxiproxy {r.request.method} {r.url}: {r.status_code} {r.text[:200]}")


# seconds the audit gives Kubernetes to have every Deployment's ready pod back after a heal
# (k8s.deploy.audit_settled); the whole audit runs within engine.AUDIT_BOUND (60 s)
K8S_SETTLE = 30.0


def heal_audit(cluster: Cluster) -> list[str]:
    """What is still broken: missing, stopped or paused nodes, stopped processes, toxics,
    disabled proxies, nodes off the network, iptables rules of this run, a Deployment without
    its ready pod (Kubernetes). Empty means every fault healed."""
    problems = [f"{n} is missing" for n in cluster.topology.nodes if n not in cluster.nodes]
    for node, c in list(cluster.nodes.items()):
        st = runtime.state(c)
        if st == "paused":
            problems.append(f"{node} is paused")
        elif st.startswith("exited") and node.startswith("migrate"):
            continue  # a one-shot migrator is meant to end
        elif st != "running":
            problems.append(f"{node} is {st}")
        else:
            if not on_network(c, cluster.network.name):
                problems.append(f"{node} is off the cluster network")
            problems += [f"{node}: process {pid} is stopped (SIGSTOP)" for pid in stopped_pids(c)]
    try:
        for name, proxy in (
            requests.get(f"{toxiproxy.api(cluster)}/proxies", timeout=5).json().items()
        ):
            if not proxy.get("enabled", True):
                problems.append(f"proxy {name} is disabled")
            problems += [f"proxy {name} has toxic {t['name']}" for t in proxy.get("toxics", [])]
    except (requests.RequestException, docker.errors.APIError) as exc:
        problems.append(f"toxiproxy API did not answer: {exc}")
    if cluster.topology.kubernetes and K8S_NODE in cluster.nodes:
        from testbed.k8s.deploy import audit_settled  # a pod deleted and not back

        # a Kubernetes node still paused or stopped will not settle: no waiting for it
        stuck = any(p.startswith(K8S_NODE) for p in problems)
        problems += audit_settled(cluster, timeout=0 if stuck else K8S_SETTLE)
    try:
        problems += [f"iptables rule left: {ln}" for ln in iptables.run_rules(cluster.run_id)]
    except FaultError as exc:
        problems.append(str(exc))
    return problems


def stopped_pids(container) -> list[int]:
    container.reload()
    init = container.attrs["State"].get("Pid") or 0
    return [pid for pid in descendants(init) if process_state(pid) == "T"]


def process_state(pid: int) -> str | None:
    """The state letter of ``/proc/<pid>/stat`` (R, S, T, t, Z, ...); None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


STOP_WAIT = 2.0  # seconds a SIGSTOP may take to stop its process on a busy machine


def wait_stopped(pids: list[int], timeout: float = STOP_WAIT) -> list[int]:
    """The pids still not stopped after up to ``timeout`` seconds. SIGSTOP takes effect when
    the process next runs in the kernel, so on a busy machine /proc shows it running for a
    moment after the signal was sent (a trace stop, t, counts: the stop follows the detach;
    a pid that is gone counts as stopped: its node's state tells the rest)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if process_state(p) not in ("T", "t", None)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)


def descendants(pid: int) -> list[int]:
    if pid <= 0:
        return []
    try:
        kids = [int(k) for k in _children(pid)]
    except FaultError:
        return []
    return kids + [d for k in kids for d in descendants(k)]
