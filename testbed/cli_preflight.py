"""``testbed preflight``: before an Airflow 2 -> 3 upgrade, what in a folder of DAGs will break
(ruff's rules, :mod:`testbed.preflight`; every file imported, :mod:`testbed.dagparse`); exit 1
when anything would."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import typer

from testbed import dagparse
from testbed import preflight as P
from testbed.core import progress
from testbed.dagparse import Parsed
from testbed.images.catalog import AIRFLOW_VERSIONS, DEFAULT_AIRFLOW_VERSION, IMAGE_VERSIONS


def preflight(
    dags: Path = typer.Option(..., "--dags", help="The DAG folder to check."),
    config: Path | None = typer.Option(
        None, "--config", help="Your airflow.cfg: `airflow config lint` of the target over it."
    ),
    to_version: str = typer.Option(
        DEFAULT_AIRFLOW_VERSION, "--to", help="The Airflow 3 version to go to."
    ),
    from_version: str | None = typer.Option(
        None,
        "--from",
        help="The version you run now (its image built): a file that fails there too is "
        "broken already, not by the upgrade.",
    ),
    parse: bool | None = typer.Option(
        None,
        "--parse/--no-parse",
        show_default="when Docker and the image are there",
        help="Import every file under the target version, in its image (--parse: an error "
        "when Docker or the image is missing).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON on stdout."),
) -> None:
    """What in a folder of DAGs breaks on Airflow 3 (ruff's rules, each file imported).

    Ruff's Airflow 3 rules first, then every file imported by the target version's own DagBag.
    AIR301 (removed), AIR302 (moved to a provider, the old import gone) and AIR303 (a changed
    signature) break a DAG; AIR311 and AIR312 (shimmed for now) are advice. A file the target
    version cannot import breaks (file, line and error; with --from, whether the version you
    run imports it). Exit 1 when anything would break. With --config, the target version's
    `airflow config lint` lists each option of your airflow.cfg that moved, was renamed or
    removed, or whose default changed (advice: run `airflow config update`).

    Example: `testbed preflight --dags ./dags --from 2.11.2`, or `testbed preflight --dags
    ./dags --no-parse --config airflow.cfg --json`."""
    _check_versions(to_version, from_version)
    findings = P.lint(dags)
    options = P.config_lint(config, to_version) if config else []
    versions, skipped = _importable([to_version, *([from_version] if from_version else [])], parse)
    parsed = _parse(dags, versions)
    failures = parsed[0].failures if parsed else ()
    breaking = [f for f in findings if f.breaking]
    if as_json:
        rows = [asdict(f) | {"breaking": f.breaking} for f in findings]
        doc = {"dags": rows, "config": options, "parse": [asdict(p) for p in parsed]}
        sys.stdout.write(json.dumps(doc | {"not_imported": skipped}, indent=2) + "\n")
    else:
        _print(findings, options, parsed, dags)
        for why in skipped:
            progress.results.print(f"  [yellow]NOTE[/] not imported: {why}", highlight=False)
    raise typer.Exit(1 if breaking or failures else 0)


def _check_versions(to_version: str, from_version: str | None) -> None:
    if to_version not in AIRFLOW_VERSIONS:
        raise typer.BadParameter(f"--to {to_version!r}; buildable: {', '.join(AIRFLOW_VERSIONS)}")
    if from_version is not None and from_version not in IMAGE_VERSIONS:
        raise typer.BadParameter(f"--from {from_version!r}; buildable: {', '.join(IMAGE_VERSIONS)}")


def _importable(versions: list[str], parse: bool | None) -> tuple[list[str], list[str]]:
    """Which of ``versions`` (the target first) the folder is imported under, and why the
    others are not: --no-parse none; --parse all (a missing image is then an error); by
    default those whose image is here, and none when the target's is not."""
    if parse is not None:
        return (versions if parse else []), []
    why = {v: dagparse.unavailable(v) for v in versions}
    if why[versions[0]]:
        return [], [why[versions[0]]]
    return [v for v in versions if not why[v]], [w for w in why.values() if w]


def _parse(dags: Path, versions: list[str]) -> list[Parsed]:
    """The folder imported under each version, in order (the target first)."""
    parsed = []
    for version in versions:
        with progress.status(f"importing every file of {dags} with Airflow {version}"):
            parsed.append(dagparse.parse(dags, version))
    return parsed


def _print(findings: list, options: list[str], parsed: list[Parsed], dags: Path) -> None:
    out = progress.results
    for f in findings:
        mark = "[red]BREAKS[/]" if f.breaking else "[yellow]ADVICE[/]"
        out.print(f"  {mark} {f.text()}", highlight=False)
    for line in _import_lines(parsed):
        out.print(f"  [red]BREAKS[/] {line}", highlight=False)
    for line in options:
        out.print(f"  [yellow]CONFIG[/] {line}", highlight=False)
    breaking = [f for f in findings if f.breaking]
    failures = parsed[0].failures if parsed else ()
    files = len({f.file for f in breaking} | {f.file for f in failures})
    count = len(breaking) + len(failures)
    verdict = (
        f"[red]{count} break(s) in {files} file(s)[/]" if count else "[green]nothing breaks[/]"
    )
    advice = len(findings) - len(breaking)
    imported = f"; {len(parsed[0].dags)} DAG(s) imported" if parsed else ""
    out.print(f"{verdict} on Airflow {parsed[0].version if parsed else 3} ({advice} advice"
              f"{imported}) in {dags}")  # fmt: skip


def _import_lines(parsed: list[Parsed]) -> list[str]:
    """Each file the target cannot import, and whether the current version could (pure)."""
    if not parsed:
        return []
    target, current = parsed[0], (parsed[1] if len(parsed) > 1 else None)
    lines = []
    for f in target.failures:
        line = f"{f.text()} (does not import on {target.version}"
        if current is not None:
            line += f"; fails on {current.version} too" if current.failed(f.file) else (
                f"; imports on {current.version}: the upgrade breaks it")  # fmt: skip
        lines.append(line + ")")
    return lines
