"""``testbed preflight``: before an Airflow 2 -> 3 upgrade, what in a folder of DAGs will break
(:mod:`testbed.preflight`); exit 1 when anything would."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import typer

from testbed import preflight as P
from testbed.core import progress
from testbed.images.catalog import AIRFLOW_VERSIONS, DEFAULT_AIRFLOW_VERSION


def preflight(
    dags: Path = typer.Option(..., "--dags", help="The DAG folder to check."),
    config: Path | None = typer.Option(
        None, "--config", help="Your airflow.cfg: `airflow config lint` of the target over it."
    ),
    to_version: str = typer.Option(
        DEFAULT_AIRFLOW_VERSION, "--to", help="The Airflow 3 version to go to (for --config)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON on stdout."),
) -> None:
    """What in a folder of DAGs breaks on Airflow 3 (ruff's Airflow 3 rules).

    AIR301 (removed), AIR302 (moved to a provider, the old import gone) and AIR303 (a changed
    signature) break a DAG; AIR311 and AIR312 (shimmed for now) are advice. Exit 1 when any
    would break. With --config, the target version's `airflow config lint` lists each option
    of your airflow.cfg that moved, was renamed or removed, or whose default changed (advice:
    run `airflow config update`). Then parse the folder under the target version:
    `testbed up --dags DIR --airflow-version 3.3.2` reports each import error.

    Example: `testbed preflight --dags ./dags`, or `testbed preflight --dags ./dags --config
    airflow.cfg --json`."""
    if to_version not in AIRFLOW_VERSIONS:
        raise typer.BadParameter(f"{to_version!r}; built: {', '.join(AIRFLOW_VERSIONS)}")
    findings = P.lint(dags)
    options = P.config_lint(config, to_version) if config else []
    breaking = [f for f in findings if f.breaking]
    if as_json:
        rows = [asdict(f) | {"breaking": f.breaking} for f in findings]
        doc = {"dags": rows, "config": options}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        out = progress.results
        for f in findings:
            mark = "[red]BREAKS[/]" if f.breaking else "[yellow]ADVICE[/]"
            out.print(f"  {mark} {f.text()}", highlight=False)
        files = len({f.file for f in breaking})
        verdict = (
            f"[red]{len(breaking)} break(s) in {files} file(s)[/]"
            if breaking
            else ("[green]nothing breaks[/]")
        )
        for line in options:
            out.print(f"  [yellow]CONFIG[/] {line}", highlight=False)
        out.print(f"{verdict} on Airflow 3 ({len(findings) - len(breaking)} advice) in {dags}")
    raise typer.Exit(1 if breaking else 0)
