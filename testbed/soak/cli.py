"""``testbed soak``: a long seeded chaos run (the same generator, workload and invariants as
``testbed chaos``) with the runner's own CPU and memory sampled, then a summary of the whole
run printed and written beside the record as ``soak.json``."""

from __future__ import annotations

import json

import typer

from testbed.core import progress


def soak(
    duration: str = typer.Option("30m", help="The chaos window, e.g. 1h."),
    seed: int = typer.Option(1, help="The seed the schedule is drawn from."),
    faults: str | None = typer.Option(None, help="Fault kinds (as for testbed chaos)."),
    workload: str | None = typer.Option(None, help="DAG[:every] (default many_tasks:10s)."),
    workers: int = typer.Option(2, help="Celery workers."),
    interval: float = typer.Option(10.0, help="Seconds between samples of the runner's use."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the schedule; boot nothing."),
) -> None:
    """A soak: hours of seeded chaos under a workload; exit 0 only if every invariant held."""
    from testbed.chaos.cli import _print_schedule, build, parse_list
    from testbed.scenario.chaos_generate import KINDS

    options = {
        "duration": duration,
        "faults": parse_list(faults, "faults", KINDS),
        "workload": workload,
    }
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
