"""Benchmark of the drill pack: each drill's wall time, the whole pack's, the reset between
drills on a reused cluster, and drill 1's detection delay against its threshold.

    python benchmarks/bench_drills.py [--rounds 3] [scenarios/*.yaml]

Every round runs the whole pack on one cluster (booted once per round, reset between drills).
Reports medians over the rounds measured in this one run and writes
benchmarks/results/drills-<time>.json. A drill that fails is reported, and counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from testbed.images import build as image_build
from testbed.pool import ClusterPool
from testbed.scenario import load
from testbed.scenario.execute import execute

ROOT = Path(__file__).resolve().parents[1]


def one_round(paths: list[Path]) -> dict:
    pool = ClusterPool()
    t0 = time.monotonic()
    drills: dict[str, dict] = {}
    try:
        for path in paths:
            scenario = load(path)
            cluster = pool.get(scenario.topology.build())
            verdict, _ = execute(scenario, cluster)
            delays = {
                e["name"]: e["measurements"].get("delay")
                for e in verdict.expectations
                if e["check"] == "health_flipped"
            }
            drills[scenario.name] = {
                "ok": verdict.clean,
                "wall_s": verdict.wall_seconds,
                "detection_delays_s": delays,
                "failed": [e["detail"] for e in verdict.expectations if not e["ok"]],
            }
            mark = "PASS" if verdict.clean else "FAIL"
            print(f"  {mark} {scenario.name:26} {verdict.wall_seconds:6.1f}s {delays or ''}")
    finally:
        pool.close(reason="benchmark")
    return {"pack_s": time.monotonic() - t0, "resets_s": pool.reset_seconds, "drills": drills}


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("paths", nargs="*", type=Path)
    args = ap.parse_args()
    paths = args.paths or sorted((ROOT / "scenarios").glob("*.yaml"))
    image_build.ensure(tuple({load(p).topology.airflow_version for p in paths}))
    rounds = []
    for i in range(args.rounds):
        print(f"round {i + 1}/{args.rounds}")
        rounds.append(one_round(paths))
    names = list(rounds[0]["drills"])
    summary = {
        "rounds": args.rounds,
        "pack_s_median": median([r["pack_s"] for r in rounds]),
        "reset_s_median": median([s for r in rounds for s in r["resets_s"]]),
        "drill_s_median": {n: median([r["drills"][n]["wall_s"] for r in rounds]) for n in names},
        "passed": {n: sum(r["drills"][n]["ok"] for r in rounds) for n in names},
        "raw": rounds,
    }
    out = ROOT / "benchmarks" / "results" / f"drills-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "raw"}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
