"""``testbed soak``: a long seeded chaos run (the same generator, workload and invariants as
``testbed chaos``) with the runner's own CPU and memory sampled, then a summary of the whole
run printed and written beside the record as ``soak.json``."""

from __future__ import annotations

import json

import typer

from testbed.chaos.cli import _print_schedule, build, parse_list, step_default, typed
from testbed.core import progress


def soak(
    ctx: typer.Context,
    duration: str = typer.Option("30m", help="The chaos window, e.g. 1h."),
    seed: int = typer.Option(1, help="The seed the schedule is drawn from."),
    faults: str = typer.Option(
        step_default("faults"), help="Fault kinds, comma-separated (as for testbed chaos)."
    ),
    workload: str = typer.Option(
        step_default("workload"), help="DAG[:every] kept triggering, or none."
    ),
    workers: int = typer.Option(2, help="Celery workers."),
    interval: float = typer.Option(10.0, help="Seconds between samples of the runner's use."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the schedule; boot nothing."),
) -> None:
    """Hours of seeded chaos under a workload; the runner's CPU and memory sampled.

    The same generator, workload and invariants as `testbed chaos`; a summary of the whole run
    is printed and written beside the record (soak.json). Exit 0 only if every invariant held.

    Example: `testbed soak --duration 1h --seed 1`, or `testbed soak --dry-run`."""
    from testbed.scenario.chaos_generate import KINDS

    options = {
        "duration": duration,
        **typed(ctx, faults=faults, workload=workload),
    }
    options["faults"] = parse_list(options["faults"], "faults", KINDS)
    scenario = build(seed, options, workers, [])
    _print_schedule(scenario)
    if dry_run:
        return
    from testbed.core.history import load
    from testbed.runs import run_all
    from testbed.soak.summary import summarize
    from testbed.soak.usage import UsageSampler

    results: list = []
    code = run_all([scenario], False, around=lambda c: UsageSampler(c, interval), results=results)
    if results:  # the scenario ran (its record exists)
        folder = results[0][1]
        summary = summarize(load(folder / "history.jsonl"))
        (folder / "soak.json").write_text(json.dumps(summary, indent=2))
        progress.result(json.dumps(summary, indent=2))
        progress.result(f"soak summary: {folder / 'soak.json'}; report: {folder / 'report.html'}")
    raise typer.Exit(code)
