"""How far compressed time goes on this machine: for each timescale, boot the drill pack's
topology, run the quiet control drill (no fault), and measure from its history the age of each
component's heartbeat as the api-server reports it (median, p95, max, and as a fraction of the
scaled health threshold), the false flips (healthy -> unhealthy with no fault) and the probes
the api-server did not answer within the probe timeout (counted apart: not a flip).

    python benchmarks/bench_timescale.py [--scales 1.0,0.5,0.25] [--rounds 1]

Writes benchmarks/results/timescale-<time>.json and prints one line per timescale.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from testbed import timescale as T
from testbed.backends import images as image_provision
from testbed.checks.health import classify, heartbeat_age
from testbed.core.errors import TestbedError
from testbed.engine.execute import execute
from testbed.pool import ClusterPool
from testbed.scenario import load

ROOT = Path(__file__).resolve().parents[1]
QUIET = ROOT / "scenarios" / "quiet.yaml"
COMPONENTS = {  # component in the api-server's health answer -> its threshold option
    "scheduler": "scheduler.scheduler_health_check_threshold",
    "triggerer": "triggerer.triggerer_health_check_threshold",
    "dag_processor": "dag_processor.health_check_threshold",
}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def measure(history: Path, config: dict[str, str]) -> dict:
    """Heartbeat ages and false flips per component, from one quiet drill's history."""
    events = [json.loads(line) for line in history.read_text().splitlines()]
    seen = [e for e in events if e["kind"] == "observation" and e["probe"] == "api_health"]
    out = {}
    for comp, option in COMPONENTS.items():
        ages = [a for a in (heartbeat_age(o, comp) for o in seen) if a is not None]
        states = [classify(o, comp) for o in seen]
        answered = [st for st in states if st != "no answer"]  # a probe timeout is not a flip
        flips = sum(
            1
            for a, b in zip(answered, answered[1:], strict=False)
            if a == "healthy" and b == "unhealthy"
        )
        threshold = float(config.get(option) or T.TIMERS[option][0])
        out[comp] = {
            "threshold_s": threshold,
            "age_median_s": round(statistics.median(ages), 2) if ages else None,
            "age_p95_s": pct(ages, 0.95),
            "age_max_s": max(ages) if ages else None,
            "p95_of_threshold": round(pct(ages, 0.95) / threshold, 2) if ages else None,
            "false_flips": flips,
            "no_answer": len(states) - len(answered),
            "observations": len(states),
        }
    return out


def one(scale: float) -> dict:
    """The quiet drill at one timescale; a cluster that does not boot at it is a result too."""
    os.environ[T.ENV] = str(scale)
    scenario = load(QUIET)
    pool = ClusterPool()
    try:
        try:
            cluster = pool.get(scenario.topology.build())
        except TestbedError as exc:
            return {"timescale": scale, "boot_error": str(exc)[:500]}
        boot = cluster.timings.get("total")
        verdict, folder = execute(scenario, cluster)
    finally:
        pool.close(reason="benchmark")
    config = cluster.topology.flat_effective()
    return {
        "timescale": scale,
        "boot_s": boot,
        "quiet_ok": verdict.clean,
        "quiet_wall_s": verdict.wall_seconds,
        "failed": [e["detail"] for e in verdict.expectations if not e["ok"]],
        "components": measure(folder / "history.jsonl", config),
        "config": config,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1.0,0.5,0.25")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    image_provision.ensure_scenarios([load(QUIET)])
    results = []
    for r in range(args.rounds):
        for scale in scales:
            res = one(scale)
            results.append(res)
            if "boot_error" in res:
                print(
                    f"round {r + 1} timescale {scale:<5g} NO BOOT {res['boot_error']}", flush=True
                )
                continue
            comps = " ".join(
                f"{c}: p95 {m['age_p95_s']}s/{m['threshold_s']:g}s flips {m['false_flips']}"
                f" no-answer {m['no_answer']}"
                for c, m in res["components"].items()
            )
            mark = "ok" if res["quiet_ok"] else "FLAPPED"
            print(f"round {r + 1} timescale {scale:<5g} {mark:7} {comps}", flush=True)
    out = ROOT / "benchmarks" / "results" / f"timescale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
