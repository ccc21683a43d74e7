"""``testbed chaos``: draw a seeded schedule and run it (``--dry-run``: print it, boot nothing),
run a record's schedule again (``--replay``), or shrink a failing record (``--shrink``).
Every input is checked — kinds, targets, durations, the workload's DAG, the record — before
anything boots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from testbed.core import progress
from testbed.scenario.chaos_generate import KINDS, ChaosError
from testbed.scenario.steps_chaos import Chaos as ChaosStep


def step_default(field: str) -> str:
    """The ``chaos`` step's default for ``field`` as the command line writes it (``10m``,
    ``hang,kill,restart,link``): what an option left out means, shown as its default."""
    value = ChaosStep.model_fields[field].default
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, float):  # a duration in seconds
        for unit, size in (("h", 3600), ("m", 60)):
            if value >= size and value % size == 0:
                return f"{value / size:g}{unit}"
        return f"{value:g}s"
    return str(value)


def typed(ctx: typer.Context, **values: Any) -> dict[str, Any]:
    """``values`` as given on the command line; an option left out is None, so the ``chaos``
    step's own default applies and ``--replay``/``--shrink`` can tell what was asked. (Compared
    by name: recent typer versions carry their own copy of click's ``ParameterSource``.)"""
    given = {n for n in values if getattr(ctx.get_parameter_source(n), "name", "") == "COMMANDLINE"}
    return {name: value if name in given else None for name, value in values.items()}


def parse_list(text: str | None, what: str, allowed: tuple[str, ...] | None = None):
    """``"hang,kill"`` -> ``["hang", "kill"]``; an unknown item is an error naming the rest."""
    if text is None:
        return None
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ChaosError(f"--{what} is empty")
    bad = [x for x in items if allowed is not None and x not in allowed]
    if bad:
        raise ChaosError(f"unknown {what[:-1]} {bad[0]!r}; allowed: {', '.join(allowed or ())}")
    return items


def build(
    seed: int,
    options: dict[str, Any],
    workers: int,
    overrides: list[str],
    kubernetes: dict[str, Any] | None = None,
):
    """The validated chaos scenario (the schedule drawn and expanded) for the options given;
    ``kubernetes``: the topology's Kubernetes fields (``backend``, ``executor``,
    ``k8s_nodes``), if the chaos runs on Kubernetes."""
    from testbed.airflow_config import parse_overrides
    from testbed.chaos import schedule as S
    from testbed.scenario import from_data

    step = {k: v for k, v in options.items() if v is not None}
    config = {**S.CONFIG, **_flat(parse_overrides(overrides))}
    data = {
        "name": S.scenario_name(seed),
        "topology": {"workers": workers, "config": config, **(kubernetes or {})},
        "steps": [{"chaos": {"seed": seed, **step}}],
    }
    return from_data(data, "testbed chaos options")


def kubernetes_fields(on: bool, executor: str | None, nodes: int | None) -> dict[str, Any] | None:
    """The topology's Kubernetes fields from ``--kubernetes``, ``--executor``, ``--k8s-nodes``
    (the last two only with the first)."""
    if not on:
        if executor is not None or nodes is not None:
            flag = "--executor" if executor is not None else "--k8s-nodes"
            raise ChaosError(f"{flag} applies with --kubernetes only")
        return None
    fields: dict[str, Any] = {"backend": "kubernetes", "executor": executor or "CeleryExecutor"}
    return fields | ({"k8s_nodes": nodes} if nodes is not None else {})


def _flat(nested: dict[str, dict[str, str]]) -> dict[str, str]:
    return {f"{s}.{k}": v for s, keys in nested.items() for k, v in keys.items()}


def _reject_draw_options(flag: str, options: dict[str, Any], seed: int | None) -> None:
    given = [k for k, v in options.items() if v is not None] + (
        ["seed"] if seed is not None else []
    )
    if given:
        raise ChaosError(
            f"{flag} runs the recorded schedule; --{given[0].replace('_', '-')} does not apply"
        )


def chaos(
    ctx: typer.Context,
    seed: int | None = typer.Option(
        None,
        help="The seed the schedule is drawn from; required unless --replay or --shrink (they "
        "take the record's).",
    ),
    duration: str = typer.Option(step_default("duration"), help="The chaos window, e.g. 1h."),
    faults: str = typer.Option(
        step_default("faults"), help=f"Fault kinds, comma-separated: {', '.join(KINDS)}."
    ),
    targets: str | None = typer.Option(
        None,
        help="Nodes and links, comma-separated: scheduler, worker-1, '*->redis'.",
        show_default="Airflow's own nodes and their links",
    ),
    workload: str = typer.Option(
        step_default("workload"), help="DAG[:every] kept triggering, or none."
    ),
    min_fault: str = typer.Option(step_default("min_fault"), help="Shortest fault."),
    max_fault: str = typer.Option(step_default("max_fault"), help="Longest fault."),
    min_gap: str = typer.Option(step_default("min_gap"), help="Shortest quiet gap before a fault."),
    max_gap: str = typer.Option(step_default("max_gap"), help="Longest quiet gap before a fault."),
    settle: str = typer.Option(
        step_default("settle"), help="How long runs may take to end after the window."
    ),
    workers: int = typer.Option(2, help="Celery workers."),
    kubernetes: bool = typer.Option(
        False,
        "--kubernetes",
        help="Run it on Kubernetes (the official chart's objects); without --faults, the "
        "kinds drawn there are pod_delete and link.",
    ),
    executor: str | None = typer.Option(
        None,
        help="With --kubernetes: CeleryExecutor, KubernetesExecutor or "
        "'CeleryExecutor,KubernetesExecutor'.",
        show_default="CeleryExecutor",
    ),
    k8s_nodes: int | None = typer.Option(
        None, help="With --kubernetes: Kubernetes nodes (1-3).", show_default="1"
    ),
    set_: list[str] = typer.Option([], "--set", help="Airflow config override SECTION.KEY=VALUE."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the schedule; boot nothing."),
    replay: Path | None = typer.Option(None, help="Run a record's schedule again, exactly."),
    shrink: Path | None = typer.Option(None, help="Shrink a failing record's schedule."),
    invariant: str | None = typer.Option(
        None, help="With --shrink: the failure to keep.", show_default="the record's first"
    ),
    max_runs: int = typer.Option(30, help="With --shrink: at most this many candidate runs."),
    out: Path | None = typer.Option(
        None,
        help="With --shrink: where to write the YAML.",
        show_default="shrunk.yaml in the record",
    ),
    keep: bool = typer.Option(False, help="Leave the cluster running afterwards."),
) -> None:
    """Seeded random chaos under a workload, judged over the whole history.

    The invariants: no task lost (within its retry budget), every finished attempt's log in
    MinIO, health recovered, the heal audit clean. Exit 0 only if all held; 1 if something
    failed; 3 if only the audit.

    Example: `testbed chaos --seed 7 --dry-run`, then `testbed chaos --seed 7`; on Kubernetes
    `testbed chaos --seed 13 --kubernetes --k8s-nodes 3 --dry-run`."""
    options = typed(
        ctx,
        duration=duration,
        faults=faults,
        targets=targets,
        workload=workload,
        min_fault=min_fault,
        max_fault=max_fault,
        min_gap=min_gap,
        max_gap=max_gap,
        settle=settle,
    )
    options["faults"] = parse_list(options["faults"], "faults", KINDS)
    options["targets"] = parse_list(options["targets"], "targets")
    from testbed.chaos import schedule as S
    from testbed.scenario.plan import plan

    if replay is not None and shrink is not None:
        raise ChaosError("--replay and --shrink: one at a time")
    if shrink is not None:
        _reject_draw_options("--shrink", options, seed)
        raise typer.Exit(_shrink(shrink, invariant, max_runs, out, keep, dry_run))
    if replay is not None:
        _reject_draw_options("--replay", options, seed)
        recorded = S.from_record(replay)
        scenario = S.runnable(recorded, S.scenario_name(recorded.seed))
    else:
        if seed is None:
            raise ChaosError("--seed is needed (or --replay RECORD, or --shrink RECORD)")
        k8s = kubernetes_fields(kubernetes, executor, k8s_nodes)
        scenario = build(seed, options, workers, set_, k8s)
    _print_schedule(scenario)
    if dry_run:
        progress.result("\n".join(plan(scenario)))
        return
    from testbed.runs import run_all

    code = run_all([scenario], keep)
    progress.result("run the same schedule again: testbed chaos --replay RECORD (the record above)")
    raise typer.Exit(code)


def _print_schedule(scenario) -> None:
    from testbed.chaos import schedule as S

    for data in scenario.chaos_schedules:
        progress.result("\n".join(S.Schedule.from_json(data).lines()))


def _shrink(
    record: Path, invariant: str | None, max_runs: int, out: Path | None, keep, dry_run
) -> int:
    from testbed.backends import images as image_provision
    from testbed.chaos import schedule as S
    from testbed.chaos.run import failing_invariant, shrink_record
    from testbed.core.interrupts import deferred
    from testbed.pool import ClusterPool

    schedule = S.from_record(record)
    target = failing_invariant(record, invariant)  # said before anything boots
    scenario = S.runnable(schedule, "check")  # and the schedule still validates
    progress.result("\n".join(schedule.lines()))
    progress.step(f"shrinking: keep failing {target!r}, at most {max_runs} runs")
    if dry_run:
        return 0
    image_provision.ensure_scenarios([scenario])  # a Kubernetes record's images too
    pool = ClusterPool(detached=keep)

    def said(candidate, folder, failed) -> None:
        mark = "fails" if target in failed else "holds"
        progress.step(
            f"  {len(candidate.faults)} faults, {candidate.duration:g}s: {mark} ({folder.name})"
        )

    try:
        result, path, _ = shrink_record(
            record, pool, invariant=target, max_runs=max_runs, out=out, on_result=said
        )
    finally:
        if not keep:
            with deferred("removing the cluster; this finishes in a few seconds"):
                pool.close(reason="testbed chaos --shrink done")
    progress.result("\n".join(result.schedule.lines()))
    progress.result(
        f"shrunk {result.faults_before} -> {len(result.schedule.faults)} faults in "
        f"{result.runs} runs; still fails {escape(target)!r}: {path}"
    )
    if result.without_faults:
        progress.warn(f"{escape(target)!r} fails with no fault at all: not the faults' doing")
    return 0
