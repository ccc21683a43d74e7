"""Benchmark of the foundation: boot to all-green, the migration shortcut, rebuilds, memory.

    python benchmarks/bench_boot.py [--runs 3] [--cold]

Reports medians measured in this one run (and their ratio), writes
benchmarks/results/boot-<time>.json. ``--cold`` first removes every testbed image (not the Go
binary cache) to time a cold image build.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from testbed.cluster import Cluster
from testbed.images import build as image_build
from testbed.images import catalog
from testbed.topology import Topology


def timed(fn) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def boot_once(use_snapshot: bool, measure_memory: bool = False) -> tuple[float, float | None]:
    cluster = Cluster(Topology(workers=2), use_snapshot=use_snapshot)
    try:
        cluster.up()
        seconds = cluster.timings["total"]
        memory = idle_memory_mb(cluster) if measure_memory else None
    finally:
        cluster.down(reason="benchmark")
    return seconds, memory


def idle_memory_mb(cluster: Cluster, settle: float = 20) -> float:
    time.sleep(settle)
    total = 0
    for c in cluster.nodes.values():
        stats = c.stats(stream=False)
        mem = stats["memory_stats"]
        total += mem.get("usage", 0) - mem.get("stats", {}).get("cache", 0)
    return total / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold", action="store_true", help="time a cold image build first")
    args = ap.parse_args()
    out: dict[str, object] = {"runs": args.runs, "airflow": catalog.DEFAULT_AIRFLOW_VERSION}
    if args.cold:
        image_build.prune(keep_current=False)
        out["cold_build_s"] = timed(lambda: image_build.ensure((catalog.DEFAULT_AIRFLOW_VERSION,)))
    image_build.ensure((catalog.DEFAULT_AIRFLOW_VERSION,))
    noop = [timed(lambda: image_build.ensure((catalog.DEFAULT_AIRFLOW_VERSION,))) for _ in range(3)]
    out["noop_rebuild_s_median"] = statistics.median(noop)
    boot_once(True)  # warm-up: makes sure the snapshot exists and caches are hot
    snap = [boot_once(True, measure_memory=(i == 0)) for i in range(args.runs)]
    fresh = [boot_once(False)[0] for _ in range(args.runs)]
    out["boot_snapshot_s"] = [round(s, 2) for s, _ in snap]
    out["boot_migrate_s"] = [round(s, 2) for s in fresh]
    out["boot_snapshot_s_median"] = statistics.median(s for s, _ in snap)
    out["boot_migrate_s_median"] = statistics.median(fresh)
    out["migrate_over_snapshot_ratio"] = (
        out["boot_migrate_s_median"] / out["boot_snapshot_s_median"]
    )
    out["idle_memory_mb"] = snap[0][1]
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"boot-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    for k, v in out.items():
        print(f"{k:32} {v:.2f}" if isinstance(v, float) else f"{k:32} {v}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
