"""``testbed known-issues``: run the known-issue drills version by version and print the matrix
(:mod:`testbed.known_issues`)."""

from __future__ import annotations

import contextlib
import json

import typer

from testbed import known_issues as K
from testbed import runs
from testbed.core import exit_codes as EXIT
from testbed.core import progress
from testbed.images.catalog import AIRFLOW_VERSIONS


def known_issues(
    drill: list[str] = typer.Argument(
        None, help="Only these known-issue drills (by name); none named: the whole pack."
    ),
    airflow_version: list[str] = typer.Option(
        None,
        "--airflow-version",
        help="Run each drill on these versions (none given: its newest affected and fixed one).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would run; boot nothing."),
    as_json: bool = typer.Option(
        False, "--json", help="The cells as JSON on stdout (the runs' output on stderr)."
    ),
) -> None:
    """Reported Airflow issues reproduced version by version: the matrix.

    Each cell is `reproduced` (the reported symptom showed), `not reproduced`, `fixed` (from
    the version with the fix on) or `inconclusive` (the run could not say: a step failed, or an
    expectation other than the symptom). Exit 0 when every cell is definite, whatever it says;
    1 when a cell is inconclusive.

    Example: `testbed known-issues`, or `testbed known-issues --airflow-version 3.1.8 --json`."""
    bad = sorted(set(airflow_version or ()) - set(AIRFLOW_VERSIONS))
    if bad:
        raise typer.BadParameter(f"{bad}; built versions: {', '.join(AIRFLOW_VERSIONS)}")
    planned = K.plan(K.pack(drill or None), tuple(airflow_version or ()))
    if dry_run:
        for s in planned:
            progress.result(
                f"{s.known_issue.reference:24} {s.name} on {s.topology.airflow_version}"
            )
        return
    done: list = []
    try:
        with progress.results_on_stderr() if as_json else contextlib.nullcontext():
            runs.run_all(planned, keep=False, results=done)  # a reproduced issue fails its drill
    finally:  # the cells so far, also when the runs stopped early (Ctrl-C, an error)
        found = K.cells(planned, done)
        if as_json:
            progress.result(json.dumps(K.as_json(found), indent=1))
        else:
            _print(found)
    incomplete = len(done) < len(planned) or any(c.cell == "inconclusive" for c in found)
    raise typer.Exit(EXIT.FAILED if incomplete else EXIT.HELD)


def _print(found: list[K.Cell]) -> None:
    rows = K.table(found)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        progress.result("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for c in found:
        progress.result(f"{c.drill} on {c.version}: {c.cell}: {c.why} ({c.record})")
