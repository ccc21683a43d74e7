"""What a soak did, from its history alone (pure): runs and task instances by final state,
retries, faults by kind, heal failures, detection delays and the runner's own CPU and memory
as distributions (min, median, p95, max), and the memory growth per hour."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any


def distribution(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {
        "n": len(ordered),
        "min": round(ordered[0], 2),
        "median": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


def summarize(events: list[dict[str, Any]]) -> dict[str, Any]:
    final: dict[tuple, dict] = {}
    for e in events:
        if e["kind"] == "observation" and e.get("probe") == "task_instance" and e.get("value"):
            v = e["value"]
            final[(v["dag_id"], v["run_id"], v["task_id"], v.get("map_index", -1))] = v
    mapped = {k[:3] for k in final if k[3] >= 0}  # a mapped task's pre-expansion row is not one
    final = {k: v for k, v in final.items() if k[3] >= 0 or k[:3] not in mapped}
    faults = Counter(
        e.get("fault") for e in events if e["kind"] == "fault" and e.get("phase") == "inject"
    )
    delays = [
        e["measurements"]["delay"]
        for e in events
        if e["kind"] == "expectation" and (e.get("measurements") or {}).get("delay") is not None
    ]
    return {
        "runs": len({(k[0], k[1]) for k in final}),
        "triggered": sum(1 for e in events if e["kind"] == "trigger"),
        "task_instances": len(final),
        "task_states": dict(Counter(v["state"] for v in final.values())),
        "retried": sum(1 for v in final.values() if (v.get("try_number") or 0) > 1),
        "faults": dict(faults),
        "heal_failures": sum(
            1 for e in events if e["kind"] == "fault" and e.get("phase") == "heal_failed"
        ),
        "detection_delays_s": distribution(delays),
        "health_detection": health_detection(events),
        "runner": runner_usage(events),
    }


COMPONENTS = {"scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}


def health_detection(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Per fault on a component (a node fault on it, or a link fault from it), as the
    api-server's health saw it: how long after the inject it first said the component was not
    healthy (before the heal; else the fault went unnoticed), and how long after the heal it
    first said healthy again (for the faults it noticed). Only faults injected while the
    component was healthy count (one already unhealthy, e.g. by the fault before, would be
    "detected" at once). Keyed ``component:kind`` (e.g. ``scheduler:hang``)."""
    health = [
        (e["mono"], e["value"])
        for e in events
        if e["kind"] == "observation" and e.get("probe") == "api_health" and e.get("value")
    ]
    heals = {
        e.get("name"): e["mono"]
        for e in events
        if e["kind"] == "fault" and e.get("phase") == "heal"
    }
    out: dict[str, dict[str, list]] = {}
    for f in (e for e in events if e["kind"] == "fault" and e.get("phase") == "inject"):
        component = COMPONENTS.get(str(f.get("target", "")).split("->")[0])
        if component is None or f.get("name") not in heals:
            continue
        inject, heal = f["mono"], heals[f["name"]]
        status = [(t, (v.get(component) or {}).get("status")) for t, v in health]
        before = [s for t, s in status if t <= inject]
        if not before or before[-1] != "healthy":
            continue
        seen = next((t for t, s in status if inject < t <= heal and s != "healthy"), None)
        back = next((t for t, s in status if t > heal and s == "healthy"), None)
        slot = out.setdefault(
            f"{component}:{f.get('fault')}", {"detected": [], "recovered": [], "unnoticed": []}
        )
        if seen is None:
            slot["unnoticed"].append(round(heal - inject, 1))
            continue
        slot["detected"].append(seen - inject)
        if back is not None:
            slot["recovered"].append(back - heal)
    return {
        key: {
            "faults": len(v["detected"]) + len(v["unnoticed"]),
            "detected_after_s": distribution(v["detected"]),
            "unnoticed_fault_seconds": v["unnoticed"],
            "healthy_again_after_heal_s": distribution(v["recovered"]),
        }
        for key, v in sorted(out.items())
    }


def runner_usage(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """CPU and memory of the runner over the run: the CPU it burnt as a share of one core,
    memory as a distribution and its growth per hour (first to last sample)."""
    samples = [e for e in events if e["kind"] == "runner_usage"]
    if len(samples) < 2:
        return None
    first, last = samples[0], samples[-1]
    span = last["mono"] - first["mono"]
    return {
        "samples": len(samples),
        "span_s": round(span, 1),
        "cpu_share_of_one_core": round((last["cpu_s"] - first["cpu_s"]) / span, 4),
        "rss_mb": distribution([s["rss_mb"] for s in samples]),
        "rss_growth_mb_per_hour": round((last["rss_mb"] - first["rss_mb"]) * 3600 / span, 1),
        "threads_max": max(s["threads"] for s in samples),
    }
