"""The known-issues matrix: every drill of the catalogue that reproduces a reported Airflow issue
(its ``known_issue``), run on each version asked (by default the newest affected one and the
fixed one), each run judged into a cell (:meth:`testbed.scenario.known_issue.KnownIssue.cell`)
with the record and report behind it. ``testbed known-issues`` prints it; ``--json`` gives it
to a program.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from testbed.scenario import catalog
from testbed.scenario.load import load
from testbed.upgrade.versions import version_key


@dataclass(frozen=True)
class Cell:
    reference: str
    drill: str
    version: str
    cell: str  # reproduced | not reproduced | fixed | inconclusive
    why: str
    record: str  # the run's record folder (its report.html inside)


def pack(names: list[str] | None = None) -> list:
    """The known-issue drills of the catalogue (or those named), validated."""
    paths = [e.path for e in catalog.entries("known")]
    drills = [load(Path(p)) for p in paths]
    if names:
        unknown = sorted(set(names) - {d.name for d in drills})
        if unknown:
            from testbed.core.errors import ScenarioError

            have = ", ".join(d.name for d in drills)
            raise ScenarioError(f"no known-issue drill {unknown}; the pack: {have}")
        drills = [d for d in drills if d.name in names]
    return drills


def plan(drills: list, versions: tuple[str, ...] = ()) -> list:
    """Each drill on each version (``versions``, or its issue's default versions), as the
    scenario with its topology's Airflow version set."""
    runs = []
    for drill in drills:
        for version in versions or tuple(drill.known_issue.versions()):
            topology = drill.topology.model_copy(update={"airflow_version": version})
            runs.append(drill.model_copy(update={"topology": topology}))
    return runs


def cells(runs: list, results: list[tuple]) -> list[Cell]:
    """The matrix cells of ``runs`` from their (verdict, record folder), in order."""
    out = []
    for scenario, (verdict, folder) in zip(runs, results, strict=False):
        issue, version = scenario.known_issue, scenario.topology.airflow_version
        cell, why = issue.cell(version, verdict)
        out.append(Cell(issue.reference, scenario.name, version, cell, why, str(folder)))
    return out


def table(found: list[Cell]) -> list[list[str]]:
    """Rows (issue, drill, then one column per version) for printing."""
    versions = sorted({c.version for c in found}, key=version_key)
    by_drill: dict[tuple[str, str], dict[str, str]] = {}
    for c in found:
        by_drill.setdefault((c.reference, c.drill), {})[c.version] = c.cell
    header = ["issue", "drill", *versions]
    rows = [
        [ref, drill, *(v.get(x, "–") for x in versions)] for (ref, drill), v in by_drill.items()
    ]
    return [header, *rows]


def as_json(found: list[Cell]) -> list[dict]:
    return [asdict(c) for c in found]
