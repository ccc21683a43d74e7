"""What an idle cluster and the testbed's observer cost in CPU, with each choice beside the other.

    python benchmarks/bench_idle_cpu.py [--rounds 3] [--window 120] [--reads 200]

Two parts, each measured in this one run, medians of the rounds and their ratios:

- **Idle clusters.** Two clusters of the default topology side by side, one at Airflow's own
  ``[dag_processor] min_file_process_interval`` (30 s), one at the testbed's (120 s; a changed
  file is parsed first either way). After a settle, every ``--window`` seconds (a round) each
  container's CPU seconds are read from its cgroup (``cpuacct.usage``, cgroup v1).
- **Observer reads.** On the second cluster: ``--reads`` statements on a fresh connection each
  (what every observer read cost before), then through ``postgres.query`` (a kept connection);
  the testbed's CPU (``time.process_time``) and Postgres' (its cgroup) per read. And a round of
  container states: one inspect per node against one list call.

Writes benchmarks/results/idle-cpu-<time>.json and prints a summary.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import results_file

from testbed import runtime
from testbed.cluster import Cluster
from testbed.core import bounded
from testbed.images import build as image_build
from testbed.images import catalog
from testbed.services import postgres
from testbed.topology import Topology

CGROUP = Path("/sys/fs/cgroup/cpuacct/docker")
AIRFLOW_DEFAULT = {"dag_processor": {"min_file_process_interval": "30"}}
JOBS_SQL = (
    "select id, hostname, state from job where job_type = 'SchedulerJob' and state = 'running'"
)


def cpu_seconds(container_id: str) -> float:
    return int((CGROUP / container_id / "cpuacct.usage").read_text()) / 1e9


def per_node(cluster: Cluster) -> dict[str, float]:
    return {n: cpu_seconds(c.id) for n, c in cluster.nodes.items()}


def idle_rounds(clusters: dict[str, Cluster], rounds: int, window: float) -> dict[str, list]:
    """Per cluster, per round: each node's CPU-seconds a minute over the window."""
    out: dict[str, list] = {name: [] for name in clusters}
    for r in range(rounds):
        before = {name: per_node(c) for name, c in clusters.items()}
        print(f"… round {r + 1}/{rounds}: {window:g}s of idle", flush=True)
        time.sleep(window)
        for name, c in clusters.items():
            after = per_node(c)
            out[name].append({n: (after[n] - before[name][n]) * 60 / window for n in after})
    return out


def cost_per_call(fn: Callable[[], object], n: int, pg_id: str) -> dict[str, float]:
    """The testbed's and Postgres' CPU-milliseconds per call of ``fn``, over ``n`` calls."""
    t, pg = time.process_time(), cpu_seconds(pg_id)
    for _ in range(n):
        fn()
    return {
        "testbed_ms": (time.process_time() - t) * 1000 / n,
        "postgres_ms": (cpu_seconds(pg_id) - pg) * 1000 / n,
    }


def fresh_read(cluster: Cluster) -> None:
    """A read as every observer read was made before: a fresh connection, in a bounded call."""

    def run() -> None:
        with postgres.connect(cluster, 3) as conn:
            conn.execute(JOBS_SQL).fetchall()

    bounded.call(run, 4, "a read on a fresh connection")


def read_rounds(cluster: Cluster, rounds: int, n: int) -> dict[str, list]:
    pg = cluster.container("postgres").id
    out: dict[str, list] = {"fresh": [], "kept": [], "inspect_each": [], "one_list": []}
    nodes = list(cluster.nodes.values())
    for _ in range(rounds):
        out["fresh"].append(cost_per_call(lambda: fresh_read(cluster), n, pg))
        out["kept"].append(
            cost_per_call(lambda: postgres.query(cluster, JOBS_SQL, timeout=3), n, pg)
        )
        out["inspect_each"].append(cost_per_call(lambda: [runtime.state(c) for c in nodes], n, pg))
        out["one_list"].append(cost_per_call(lambda: runtime.states(cluster.run_id), n, pg))
    return out


def median_of(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def summary(idle: dict[str, list], reads: dict[str, list]) -> dict:
    s: dict[str, dict] = {"idle_cpu_s_per_min": {}, "reads_cpu_ms": {}}
    for name, rounds in idle.items():
        nodes = {n: round(median_of(rounds, n), 2) for n in rounds[0]}
        s["idle_cpu_s_per_min"][name] = {"nodes": nodes, "total": round(sum(nodes.values()), 2)}
    for name, rows in reads.items():
        s["reads_cpu_ms"][name] = {k: round(median_of(rows, k), 2) for k in rows[0]}
    idle_s = s["idle_cpu_s_per_min"]
    s["ratio_idle_total"] = round(
        idle_s["testbed"]["total"] / idle_s["airflow_default"]["total"], 2
    )
    both = {k: sum(v.values()) for k, v in s["reads_cpu_ms"].items()}
    s["ratio_read"] = round(both["kept"] / both["fresh"], 3)
    s["ratio_states"] = round(both["one_list"] / both["inspect_each"], 3)
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=120, help="seconds of idle per round")
    ap.add_argument("--reads", type=int, default=200, help="reads per round and kind")
    ap.add_argument("--settle", type=float, default=60, help="seconds after boot, before round 1")
    args = ap.parse_args()
    image_build.ensure((catalog.DEFAULT_AIRFLOW_VERSION,))
    topologies = {
        "airflow_default": Topology(workers=2, config=AIRFLOW_DEFAULT),
        "testbed": Topology(workers=2),
    }
    clusters = {name: Cluster(t) for name, t in topologies.items()}
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: c.up(), clusters.values()))
        time.sleep(args.settle)
        idle = idle_rounds(clusters, args.rounds, args.window)
        reads = read_rounds(clusters["testbed"], args.rounds, args.reads)
    finally:
        for c in clusters.values():
            c.down(reason="benchmark")
    out = {"rounds": args.rounds, "window_s": args.window, "reads": args.reads}
    out |= summary(idle, reads)
    results_file.write("idle-cpu", out)


if __name__ == "__main__":
    main()
