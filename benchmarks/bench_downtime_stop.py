"""A downtime window's stop phase one node after another against side by side, and a read of a
node's configuration with and without Airflow's initialization, each choice beside the other.

    python benchmarks/bench_downtime_stop.py [--rounds 3] [--reads 5]

One cluster of the default topology (one worker), measured in this one run, medians of the
rounds and their ratios:

- **Stops.** The dag-processor, the triggerer and the api-server stopped as the downtime window
  stopped them before (``docker stop`` of each in turn, 30-s grace) and as it does now (one
  SIGTERM each, then each waited for): seconds until all three have exited, and each node's
  TERM-to-exit. Between variants the three are started again and waited for.
- **Config reads.** The scheduler node's configuration read (``testbed.drift.SNAPSHOT_SCRIPT``,
  what the drift audit runs on every node) as before (``import airflow`` initializes logging,
  the ORM and plugins) and now (``_AIRFLOW__AS_LIBRARY``): CPU-seconds per read from the
  container's cgroup, and whether the two outputs are the same.

Writes benchmarks/results/downtime-stop-<time>.json and prints a summary.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import results_file

from testbed import drift, runtime
from testbed.cluster import Cluster
from testbed.images import build as image_build
from testbed.images import catalog
from testbed.topology import Topology
from testbed.upgrade.plan_docker import STOP_GRACE

CGROUP = Path("/sys/fs/cgroup/cpuacct/docker")
NODES = ("dag-processor", "triggerer", "api-server")


def cpu_seconds(container_id: str) -> float:
    return int((CGROUP / container_id / "cpuacct.usage").read_text()) / 1e9


def exited_after(cluster: Cluster, node: str, t0: float) -> float:
    """Seconds from ``t0`` until ``node``'s container has exited (polled every 0.1 s)."""
    c = cluster.container(node)
    while not runtime.state(c).startswith("exited"):
        if time.monotonic() - t0 > STOP_GRACE + 15:
            raise RuntimeError(f"{node} did not exit")
        time.sleep(0.1)
    return time.monotonic() - t0


def one_after_another(cluster: Cluster) -> dict[str, float]:
    t0, out = time.monotonic(), {}
    for n in NODES:
        t = time.monotonic()
        cluster.container(n).stop(timeout=STOP_GRACE)
        out[n] = time.monotonic() - t
    return {"all": time.monotonic() - t0, **out}


def side_by_side(cluster: Cluster) -> dict[str, float]:
    t0 = time.monotonic()
    for n in NODES:
        cluster.container(n).kill(signal="SIGTERM")
    out = {n: exited_after(cluster, n, t0) for n in NODES}
    return {"all": max(out.values()), **out}


def restart(cluster: Cluster) -> None:
    for n in NODES:
        cluster.container(n).start()
    for n in NODES:
        cluster.wait_node(n, 180)


def read(cluster: Cluster, script: str) -> tuple[float, str]:
    """CPU-seconds of one read in the scheduler's container, and its output."""
    c = cluster.container("scheduler")
    before = cpu_seconds(c.id)
    r = runtime.exec_run(c, ["python", "-c", script, "salt"], timeout=60, node="scheduler")
    return cpu_seconds(c.id) - before, r.output.strip().splitlines()[-1]


def read_rounds(cluster: Cluster, rounds: int, n: int) -> dict:
    before = drift.SNAPSHOT_SCRIPT.replace(drift.AS_LIBRARY, "", 1)
    costs: dict[str, list[float]] = {"initialized": [], "as_library": []}
    same = True
    for _ in range(rounds * n):  # alternating, so that a busy moment hits both
        a, out_a = read(cluster, before)
        b, out_b = read(cluster, drift.SNAPSHOT_SCRIPT)
        costs["initialized"].append(a)
        costs["as_library"].append(b)
        same = same and out_a == out_b
    med = {k: round(statistics.median(v), 3) for k, v in costs.items()}
    return {
        "cpu_s": med,
        "ratio": round(med["as_library"] / med["initialized"], 2),
        "same_output": same,
    }


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {n: round(statistics.median(r[n] for r in rows), 2) for n in rows[0]}


def stop_rounds(cluster: Cluster, rounds: int) -> dict:
    rows: dict[str, list[dict]] = {"one_after_another": [], "side_by_side": []}
    for r in range(rounds):
        for name, fn in (("one_after_another", one_after_another), ("side_by_side", side_by_side)):
            print(f"… round {r + 1}/{rounds}: stop {name.replace('_', ' ')}", flush=True)
            rows[name].append(fn(cluster))
            restart(cluster)
    med = {k: medians(v) for k, v in rows.items()}
    return {
        "seconds": med,
        "ratio_all": round(med["side_by_side"]["all"] / med["one_after_another"]["all"], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reads", type=int, default=5, help="reads of each kind per round")
    ap.add_argument("--settle", type=float, default=30, help="seconds after boot, before round 1")
    args = ap.parse_args()
    image_build.ensure((catalog.DEFAULT_AIRFLOW_VERSION,))
    cluster = Cluster(Topology(workers=1))
    try:
        cluster.up()
        time.sleep(args.settle)
        out = {"rounds": args.rounds, "reads": args.reads}
        out["config_read"] = read_rounds(cluster, args.rounds, args.reads)
        out["stop"] = stop_rounds(cluster, args.rounds)
    finally:
        cluster.down(reason="benchmark")
    results_file.write("downtime-stop", out)


if __name__ == "__main__":
    main()
