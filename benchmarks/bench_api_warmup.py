"""What warming the api-server's Execution API at readiness costs and saves, in one run.

    python benchmarks/bench_api_warmup.py [--rounds 3]

Each round boots the default topology twice, the order alternating from round to round (the
first round starts with the old readiness): once with the api-server ready at its health only
(as before stop 20), once ready after its Execution API answered its first request as well
(``airflow.api_ready``, the testbed's readiness). On each cluster it then
triggers ``long_task`` and times how long its task takes to reach ``running``, while the API's
health is polled every 0.5 s (2-s timeout) and every unanswered poll counted: the first task's
Execution API request is what froze an api-server that was not warmed. Medians per variant and
their ratio; writes benchmarks/results/api-warmup-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import requests

from testbed.api import AirflowAPI
from testbed.cluster import Cluster
from testbed.services import airflow
from testbed.topology import Topology

WARMED = airflow.api_ready
KEYS = ("all_green_s", "trigger_to_running_s", "sum_s", "unanswered_polls")


def health_only(base_url: str) -> bool:
    """The api-server's readiness before stop 20."""
    return airflow._http_ok(lambda: f"{base_url}{airflow.HEALTH_PATH}")


def unanswered(base: str, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        try:
            requests.get(f"{base}{airflow.HEALTH_PATH}", timeout=2)
        except requests.RequestException:
            out.append(time.monotonic())
        stop.wait(0.5)


def first_task(api: AirflowAPI, timeout: float = 180) -> float:
    """Seconds from the trigger of ``long_task`` until its task is running (or done)."""
    api.wait_for_dag("long_task", timeout=60)
    t0 = time.monotonic()
    run = api.trigger("long_task", {"seconds": 5})
    while time.monotonic() - t0 < timeout:
        try:
            if api.task_instance("long_task", run, "work").state in ("running", "success"):
                return time.monotonic() - t0
        except Exception:  # no answer yet: the freeze being measured
            pass
        time.sleep(0.25)
    raise TimeoutError(f"the task did not run within {timeout:g}s")


def one(variant: str) -> dict:
    airflow.api_ready = WARMED if variant == "warmed" else health_only
    cluster, stop, lost = Cluster(Topology(workers=2)), threading.Event(), []
    try:
        t0 = time.monotonic()
        cluster.up()
        green = time.monotonic() - t0
        base = airflow.api_url(cluster, "api-server")
        threading.Thread(target=unanswered, args=(base, stop, lost), daemon=True).start()
        took = first_task(AirflowAPI(base, cluster.secrets.admin_password))
    finally:
        stop.set()
        airflow.api_ready = WARMED
        cluster.down(reason="benchmark")
    return {
        "variant": variant,
        "all_green_s": round(green, 2),
        "trigger_to_running_s": round(took, 2),
        "sum_s": round(green + took, 2),
        "unanswered_polls": len(lost),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rounds = []
    for i in range(args.rounds):
        for variant in ("health-only", "warmed") if i % 2 == 0 else ("warmed", "health-only"):
            rounds.append(one(variant))
            print(json.dumps(rounds[-1]), flush=True)
    med = {
        v: {k: statistics.median(r[k] for r in rounds if r["variant"] == v) for k in KEYS}
        for v in ("health-only", "warmed")
    }
    out = {"rounds": rounds, "medians": med}
    out["ratio_sum_warmed_over_health_only"] = round(
        med["warmed"]["sum_s"] / med["health-only"]["sum_s"], 3
    )
    print(json.dumps({"medians": med, "ratio": out["ratio_sum_warmed_over_health_only"]}))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    path = results / f"api-warmup-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
