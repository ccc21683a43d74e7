"""Where boot time and CPU go, per node, and the testbed's boot beside the Compose export's.

    python benchmarks/bench_boot_cpu.py [--rounds 3] [--no-compose]

Each round boots the default topology (two workers, the migrated snapshot) and, at all-green,
reads every container's CPU seconds from its cgroup (``cpuacct.usage``, cgroup v1, as this
machine kind has) and each node's time from its start to ready (the cluster's history); then
the same topology rendered by ``testbed compose`` is brought up with ``docker-compose up -d``
and timed to the moment the API reports the scheduler, dag-processor and triggerer healthy
and its Execution API has answered its first request (which builds its routes; the testbed's
api-server readiness makes the same request, see ``airflow.api_ready``).
The testbed's teardown (logs saved, every object removed) is timed too. The testbed's time is
its own all-green (every node's readiness, the workers' too: a later moment than the Compose
side's, so the ratio is on the safe side). Beside it, the CPU floor: the boot's CPU seconds
(every container's) divided by this machine's cores, the shortest the boot could take if every
core were busy with it all along; all-green over the floor says how much of the boot is waiting
rather than work. Medians of the rounds, measured in this one run, and their ratios; writes
benchmarks/results/boot-cpu-<time>.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from testbed import airflow_config as AC
from testbed import compose, runtime
from testbed.cluster import Cluster
from testbed.images import build as image_build
from testbed.images import catalog
from testbed.services import airflow
from testbed.topology import Topology

CGROUP = Path("/sys/fs/cgroup/cpuacct/docker")
COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def cpu_seconds(container_id: str) -> float | None:
    path = CGROUP / container_id / "cpuacct.usage"
    return int(path.read_text()) / 1e9 if path.exists() else None


def api_green(url: str) -> bool:
    """Every component healthy, then the Execution API's first request answered (as the
    testbed's api-server readiness makes it: ``airflow.api_ready``)."""
    try:
        body = requests.get(f"{url}{airflow.HEALTH_PATH}", timeout=2).json()
        healthy = all((body.get(c) or {}).get("status") == "healthy" for c in COMPONENTS)
        return healthy and airflow.api_ready(url)
    except (requests.RequestException, ValueError):
        return False


def wait_green(url, t0: float, timeout: float = 300) -> float:
    """Seconds from ``t0`` until the API reports every component healthy (polled at 4 Hz) and
    the Execution API has answered once."""
    while time.monotonic() - t0 < timeout:
        if api_green(url()):
            return time.monotonic() - t0
        time.sleep(0.25)
    raise TimeoutError(f"not healthy within {timeout:g}s")


def testbed_round(topology: Topology) -> dict:
    cluster = Cluster(topology)
    try:
        cluster.up()
        cpu = {n: cpu_seconds(c.id) for n, c in cluster.nodes.items()}
        ready = {
            e["node"]: e["waited"]
            for e in cluster.history.events("container")
            if e.get("state") == "ready"
        }
        out = {
            "all_green_s": round(cluster.timings["total"], 2),
            "phases_s": {k: round(v, 2) for k, v in cluster.timings.items()},
            "ready_after_start_s": ready,
            "cpu_s": {n: round(v, 2) for n, v in cpu.items() if v is not None},
        }
    finally:
        t0 = time.monotonic()
        cluster.down(reason="benchmark")
    return out | {"teardown_s": round(time.monotonic() - t0, 2)}


def compose_round(topology: Topology) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as tmp:
        path = compose.render(topology, Path(tmp))
        run_id = (Path(tmp) / ".env").read_text().strip().split("=", 1)[1]
        cmd = ["docker-compose", "-f", str(path)]
        t0 = time.monotonic()
        try:
            subprocess.run([*cmd, "up", "-d"], check=True, capture_output=True, cwd=tmp)
            api = _compose_container(run_id, "api-server")
            port = lambda: runtime.host_port(api, AC.API_PORT)  # noqa: E731
            green = wait_green(lambda: f"http://127.0.0.1:{port()}", t0)
            cpu = {
                c.labels.get("io.testbed.node", c.name): cpu_seconds(c.id)
                for c in _compose_containers(run_id)
            }
            return {
                "api_green_s": round(green, 2),
                "cpu_s": {k: round(v or 0, 2) for k, v in cpu.items()},
            }
        finally:
            subprocess.run([*cmd, "down", "-v", "-t", "5"], capture_output=True, cwd=tmp)


def _compose_containers(run_id: str) -> list:
    return runtime.containers({"label": f"com.docker.compose.project={run_id}"})


def _compose_container(run_id: str, service: str):
    for c in _compose_containers(run_id):
        if c.labels.get("com.docker.compose.service") == service:
            return c
    raise RuntimeError(f"no {service} container in the compose project {run_id}")


def median_map(rounds: list[dict], key: str) -> dict:
    names = sorted({n for r in rounds for n in r[key]})
    return {n: round(statistics.median(r[key].get(n, 0) or 0 for r in rounds), 2) for n in names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-compose", action="store_true", help="time only the testbed's boot")
    args = ap.parse_args()
    image_build.ensure((catalog.DEFAULT_AIRFLOW_VERSION,))
    topology = Topology(workers=2)
    testbed_round(topology)  # warm-up: the snapshot exists, caches are hot
    ours = [testbed_round(topology) for _ in range(args.rounds)]
    out: dict = {
        "rounds": args.rounds,
        "testbed_all_green_s": [r["all_green_s"] for r in ours],
        "testbed_all_green_s_median": statistics.median(r["all_green_s"] for r in ours),
        "testbed_teardown_s": [r["teardown_s"] for r in ours],
        "testbed_ready_after_start_s_median": median_map(ours, "ready_after_start_s"),
        "testbed_cpu_s_median": median_map(ours, "cpu_s"),
    }
    out["testbed_cpu_s_total_median"] = round(sum(out["testbed_cpu_s_median"].values()), 1)
    out["cores"] = os.cpu_count() or 1
    out["testbed_cpu_floor_s"] = round(out["testbed_cpu_s_total_median"] / out["cores"], 1)
    out["all_green_over_cpu_floor"] = round(
        out["testbed_all_green_s_median"] / out["testbed_cpu_floor_s"], 2
    )
    if not args.no_compose:
        theirs = [compose_round(topology) for _ in range(args.rounds)]
        out["compose_api_green_s"] = [r["api_green_s"] for r in theirs]
        out["compose_api_green_s_median"] = statistics.median(r["api_green_s"] for r in theirs)
        out["compose_cpu_s_median"] = median_map(theirs, "cpu_s")
        out["compose_over_testbed_ratio"] = round(
            out["compose_api_green_s_median"] / out["testbed_all_green_s_median"], 2
        )
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"boot-cpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    print(summary(out))
    print(f"written to {path}")


def summary(out: dict) -> str:
    """The three figures side by side, as measured in this run (medians)."""
    lines = [
        f"testbed all-green     {out['testbed_all_green_s_median']:6.1f} s",
        f"CPU floor             {out['testbed_cpu_floor_s']:6.1f} s  "
        f"({out['testbed_cpu_s_total_median']} CPU-s / {out['cores']} cores; "
        f"all-green is {out['all_green_over_cpu_floor']}x the floor)",
    ]
    if "compose_api_green_s_median" in out:
        lines.append(
            f"Compose export        {out['compose_api_green_s_median']:6.1f} s  "
            f"({out['compose_over_testbed_ratio']}x the testbed's all-green)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
