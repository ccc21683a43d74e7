"""Benchmark of the drill pack: each drill's wall time, the whole pack's (boot included), the
reset between drills on a reused cluster, and the detection delays against their thresholds —
at each timescale given (compressed time, testbed/timescale.py), side by side. With ``--pack
upgrades``: the upgrade drills, each with what it measured (testbed/upgrade/metrics.py: each
upgrade's time and the API's longest gap in it, each migration's time, TERM to exited per
worker). With ``--pack kerberos``: the Kerberos drills that run compressed (ticket life and the
refresher's cycle scale too). With ``--pack all --scales default``: the whole catalogue as
``testbed run scenarios/*.yaml`` runs it; each drill's row also says what came before it on one
cluster (its boot, a reset or a teardown) and how much of it waited on Airflow's timers and the
drill's own windows (testbed/report/time_split.py: the part compressed time shrinks).

    python benchmarks/bench_drills.py [--rounds 3] [--scales 1.0,0.5]
                                      [--pack faults|six|upgrades|kerberos] [--clusters 2]
                                      [scenarios/*.yaml]

Every round runs the whole pack on one cluster per topology (booted in the round, reset between
drills) — or, with ``--clusters 2``, on two clusters side by side, a free one taking the next
drill (testbed.parallel, as ``testbed run --clusters 2``). Reports medians over the rounds
measured in this one run, and the ratio of each variant's pack time to the first's; writes
benchmarks/results/drills-<time>.json. A drill that fails is reported, and counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from cpu_sampler import CORES, CpuSampler

from testbed import runs
from testbed.backends import images as image_provision
from testbed.parallel import run_parallel
from testbed.report.time_split import time_split
from testbed.scenario import load
from testbed.scenario.catalog import family
from testbed.timescale import ENV as TIMESCALE_ENV
from testbed.topology import role_is_worker
from testbed.upgrade import metrics

ROOT = Path(__file__).resolve().parents[1]
# The six-drill pack of the issue that set the goal, the other drill of its topology, and the
# quiet control drill (one topology: one cluster per round).
DEFAULT_PACK = [
    ROOT / "scenarios" / f"{name}.yaml"
    for name in (
        "quiet",
        "scheduler_hang",
        "scheduler_crash_adoption",
        "worker_node_loss",
        "logs_persist",
        "broker_outage",
        "scheduler_db_stall",
        "dag_processor_db_stall",
    )
]
# The Kerberos drills that run compressed (kerberos_kdc_outage does not: its frozen KDC must
# outlast the Kerberos library's own ~27 s wait, which no timescale shrinks).
KERBEROS_PACK = [
    p
    for p in sorted((ROOT / "scenarios").glob("kerberos_*.yaml"))
    if p.stem != "kerberos_kdc_outage"
]
# The goal, exactly: the six drills of the original pack (boot included, <= 2 min).
SIX = [p for p in DEFAULT_PACK if p.stem not in ("quiet", "dag_processor_db_stall")]
PACKS = {
    "faults": DEFAULT_PACK,
    "six": SIX,
    "upgrades": sorted((ROOT / "scenarios").glob("upgrade_*.yaml")),
    "kerberos": KERBEROS_PACK,
    "all": sorted((ROOT / "scenarios").glob("*.yaml")),  # the whole catalogue, in `ls` order
}


NOTHING = {
    "upgrades": [],
    "migrations": [],
    "drains": [],
}  # what a drill without a verdict measured


def one_round(paths: list[Path], clusters: int, ahead: bool = True) -> dict:
    """The pack once, on ``clusters`` clusters side by side (testbed.parallel: a worker process
    and a cluster pool each); one cluster: the serial run of ``testbed run`` (with or without
    booting the next drill's cluster ahead)."""
    with CpuSampler() as cpu:
        t0 = time.monotonic()
        if clusters == 1:
            out = _serial_round(paths, ahead, cpu)
        else:
            result = run_parallel([load(p) for p in paths], clusters, on_outcome=_show)
            if result.interrupted:
                raise KeyboardInterrupt
            drills = {o.name: _measured(o) for o in result.outcomes}
            out = {"resets_s": result.resets, "drills": drills}
        t1 = time.monotonic()
    busy = cpu.busy_between(t0, t1)  # the pack's CPU floor: no packing beats busy / cores
    return out | {"pack_s": t1 - t0, "cpu_s": busy, "floor_s": round(busy / CORES, 1)}


def _serial_round(paths: list[Path], ahead: bool, cpu: CpuSampler) -> dict:
    """The pack once as ``testbed run`` runs it (testbed.runs.run_all); each drill's CPU-seconds
    (the machine's, so a boot ahead beside it counts in it) and the CPU of what came before."""
    from testbed.parallel import Outcome

    results: list = []
    t0 = time.monotonic()
    runs.run_all([load(p) for p in paths], False, results=results, boot_ahead=ahead)
    drills, last_end = {}, t0
    for i, (verdict, folder) in enumerate(results):
        outcome = Outcome(i, verdict.scenario, 1, verdict=verdict, folder=folder)
        m = drills[verdict.scenario] = _measured(outcome)
        if m.get("start_mono") is not None:  # the boot, reset or teardown before the drill
            start = m["start_mono"]
            end = start + (m["wall_s"] or 0.0)
            m["before_s"] = round(start - last_end, 1)
            m["before_cpu_s"] = cpu.busy_between(last_end, start)
            m["cpu_s"] = cpu.busy_between(start, end)
            last_end = end
    return {"resets_s": [], "drills": drills}


def _measured(outcome) -> dict:
    verdict = outcome.verdict
    if verdict is None:
        return {
            "ok": False,
            "wall_s": None,
            "failed": [outcome.error],
            "upgrade": NOTHING,
            "cluster": outcome.worker,
        }
    lines = (outcome.folder / "history.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines if line]
    start = next((e for e in events if e["kind"] == "scenario"), None)
    return {
        "ok": verdict.clean,
        "wall_s": verdict.wall_seconds,
        "start_mono": start["mono"] if start else None,
        **time_split(events),  # waiting_s (on Airflow's timers), acting_s
        "cluster": outcome.worker,
        "detection_delays_s": {
            e["name"]: e["measurements"].get("delay")
            for e in verdict.expectations
            if e["check"] == "health_flipped"
        },
        "failed": [e["detail"] for e in verdict.expectations if not e["ok"]],
        "upgrade": metrics.summary(events),
    }


def _show(outcome) -> None:
    m = _measured(outcome)
    mark = "PASS" if m["ok"] else "FAIL"
    wall = f"{m['wall_s']:6.1f}s" if m["wall_s"] is not None else "   -  "
    extra = m.get("detection_delays_s") or (m["failed"] if not m["ok"] else "")
    print(f"  {mark} [c{outcome.worker}] {outcome.name:26} {wall} {extra or ''}", flush=True)


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def summarize(rounds: list[dict]) -> dict:
    names = list(dict.fromkeys(n for r in rounds for n in r["drills"]))
    for r in rounds:  # a drill a round never ran (its worker died) counts as failed there
        for n in names:
            r["drills"].setdefault(n, {"ok": False, "wall_s": None, "upgrade": NOTHING})
    return {
        "rounds": len(rounds),
        "pack_s_median": median([r["pack_s"] for r in rounds]),
        "pack_cpu_s_median": median([r["cpu_s"] for r in rounds]),
        "pack_floor_s_median": median([r["floor_s"] for r in rounds]),
        "reset_s_median": median([s for r in rounds for s in r["resets_s"]]),
        "drill_s_median": {n: median([r["drills"][n]["wall_s"] for r in rounds]) for n in names},
        "before_s_median": {n: _median_of(rounds, n, "before_s") for n in names},
        "waiting_s_median": {n: _median_of(rounds, n, "waiting_s") for n in names},
        "cpu_s_median": {n: _median_of(rounds, n, "cpu_s") for n in names},
        "before_cpu_s_median": {n: _median_of(rounds, n, "before_cpu_s") for n in names},
        "passed": {n: sum(r["drills"][n]["ok"] for r in rounds) for n in names},
        "upgrade_medians": {
            n: _upgrade_medians([r["drills"][n]["upgrade"] for r in rounds]) for n in names
        },  # fmt: skip
        "raw": rounds,
    }


def _median_of(rounds: list[dict], name: str, field: str) -> float | None:
    return median([r["drills"][name].get(field) for r in rounds])


def _upgrade_medians(per_round: list[dict]) -> dict:
    """Medians over rounds of what an upgrade drill measured (position by position)."""
    ups = list(zip(*[r["upgrades"] for r in per_round], strict=False))
    migs = list(zip(*[r["migrations"] for r in per_round], strict=False))
    # the workers' warm shutdowns (a downtime window TERMs its other nodes too)
    drains = [
        d["term_to_exit_s"] for r in per_round for d in r["drains"] if role_is_worker(d["node"])
    ]
    return {
        "upgrades": [
            {
                "what": f"{u[0]['from']} -> {u[0]['to']} ({u[0]['kind']})",
                "seconds": median([x["seconds"] for x in u]),
                "api_longest_gap_s": median([x["api_longest_gap_s"] for x in u]),
            }
            for u in ups
        ],
        "migrations": [
            {
                "what": f"{m[0]['command']} {m[0]['version']}",
                "seconds": median([x["seconds"] for x in m]),
            }
            for m in migs
        ],
        "term_to_exit_s": median(drains),
    }


def _seconds(value: float | None) -> str:
    return f"{value:7.1f}s" if value is not None else "      -"


def _table(key: str, s: dict) -> None:
    """Drill, family, wall time, the boot or reset before it (one cluster), the time it waited
    on Airflow's timers, the machine's CPU-seconds in the drill and before it (medians),
    passes; each family's sums; the pack's time beside its CPU floor."""
    print(
        f"\n{key}: pack {s['pack_s_median']:.0f}s ({s['rounds']} round(s)); CPU"
        f" {s['pack_cpu_s_median']:.0f} CPU-s, floor {s['pack_floor_s_median']:.0f}s on {CORES}"
        f" cores (ratio {s['pack_s_median'] / max(s['pack_floor_s_median'], 1):.2f})"
    )
    print(
        f"  {'drill':30} {'family':9} {'wall':>8} {'before':>8} {'waiting':>8}"
        f" {'cpu':>8} {'cpu before':>10}"
    )
    sums: dict[str, list[float]] = {}
    for name, wall in s["drill_s_median"].items():
        before, waiting = s["before_s_median"][name], s["waiting_s_median"][name]
        cpu, cpu_before = s["cpu_s_median"][name], s["before_cpu_s_median"][name]
        fam = sums.setdefault(family(name), [0.0, 0.0])
        fam[0] += wall or 0.0
        fam[1] += (cpu or 0.0) + (cpu_before or 0.0)
        print(
            f"  {name:30} {family(name):9} {_seconds(wall)} {_seconds(before)}"
            f" {_seconds(waiting)} {_seconds(cpu)} {_seconds(cpu_before):>10}"
            f"  passed {s['passed'][name]}/{s['rounds']}"
        )
    drills = sum(v[0] for v in sums.values())
    parts = ", ".join(f"{f} {v[0]:.0f}s / {v[1]:.0f} CPU-s" for f, v in sorted(sums.items()))
    between = s["pack_s_median"] - drills
    print(f"  drills {drills:.0f}s ({parts}); boots, resets, teardowns between {between:.0f}s")


def _variants(clusters: str, ahead: str) -> list[tuple[int, bool]]:
    """(clusters, boot ahead) pairs: every count; one cluster with each of ``ahead``."""
    out = []
    for n in map(int, clusters.split(",")):
        out += [(1, a == "on") for a in ahead.split(",")] if n == 1 else [(n, False)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--scales",
        default="1.0",
        help="timescales, e.g. 1.0,0.5 (first: baseline); default: each drill's own",
    )
    ap.add_argument("--pack", choices=sorted(PACKS), default="faults")
    ap.add_argument(
        "--clusters",
        default="1",
        help="clusters side by side, e.g. 1,2: every timescale is run with each count",
    )
    ap.add_argument(
        "--ahead",
        default="on",
        help="with one cluster: boot the next drill's cluster ahead, e.g. on,off (each run)",
    )
    ap.add_argument("paths", nargs="*", type=Path)
    args = ap.parse_args()
    paths = args.paths or PACKS[args.pack]
    image_provision.ensure_scenarios([load(p) for p in paths])
    by_scale: dict[str, dict] = {}  # "0.5" (one cluster) or "0.25x2" (two side by side)
    for scale in args.scales.split(","):
        if scale == "default":  # each drill at its own timescale
            os.environ.pop(TIMESCALE_ENV, None)
        else:
            os.environ[TIMESCALE_ENV] = scale
        for clusters, ahead in _variants(args.clusters, args.ahead):
            key = scale if clusters > 1 or ahead else f"{scale} no-ahead"
            key = key if clusters == 1 else f"{scale}x{clusters}"
            rounds = []
            for i in range(args.rounds):
                print(f"timescale {scale}, {key}: round {i + 1}", flush=True)
                rounds.append(one_round(paths, clusters, ahead))
            by_scale[key] = summarize(rounds) | {
                "timescale": scale,
                "clusters": clusters,
                "boot_ahead": ahead if clusters == 1 else None,
            }
    base = next(iter(by_scale.values()))["pack_s_median"]
    for s in by_scale.values():
        s["pack_ratio_to_first"] = (
            round(base / s["pack_s_median"], 2) if s["pack_s_median"] else None
        )
    out = ROOT / "benchmarks" / "results" / f"drills-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(by_scale, indent=2))
    brief = {k: {f: v for f, v in s.items() if f != "raw"} for k, s in by_scale.items()}
    print(json.dumps(brief, indent=2))
    for key, s in by_scale.items():
        _table(key, s)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
