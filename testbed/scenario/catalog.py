"""The drill catalogue: the scenarios shipped under ``scenarios/``, found by their bare name
(``testbed run scheduler_hang``) and listed (``testbed list``) with their family, backend,
timescale and what each proves."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from testbed.core import paths
from testbed.core.errors import ScenarioError

# by name: upgrade_*, kerberos_*, k8s_*, known_* (a reported issue reproduced: known_issue)
FAMILIES = ("faults", "upgrade", "kerberos", "k8s", "known")


def family(name: str) -> str:
    """``upgrade_rolling_patch`` -> ``upgrade``; a drill of no named family is a fault drill."""
    return next((f for f in FAMILIES[1:] if name.startswith(f + "_")), "faults")


def folder() -> Path:
    return paths.project_root() / "scenarios"


def resolve(arg: str | Path) -> Path:
    """A scenario file as given, or a bare drill name (no folder, no suffix) of the catalogue."""
    path = Path(arg)
    if path.exists() or path.suffix or len(path.parts) != 1:
        return path
    shipped = folder() / f"{path.name}.yaml"
    if shipped.is_file():
        return shipped
    raise ScenarioError(
        f"{arg}: no such scenario file, and no drill of that name",
        hint="`testbed list` shows the drills"
        + (f"; close: {', '.join(close(path.name))}" if close(path.name) else ""),
    )


def names() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.yaml"))


def close(name: str) -> list[str]:
    """The drill names that share a word with ``name`` (at most five)."""
    words = set(name.split("_"))
    return [n for n in names() if words & set(n.split("_"))][:5]


@dataclass(frozen=True)
class Entry:
    name: str
    family: str
    backend: str
    timescale: float
    steps: int
    description: str
    path: str

    def to_json(self) -> dict:
        return asdict(self)


def entries(family_: str | None = None, backend: str | None = None) -> list[Entry]:
    """Every shipped drill, validated (a broken one raises), filtered by family and backend."""
    from testbed.scenario.load import load

    out = []
    for name in names():
        s = load(folder() / f"{name}.yaml")
        entry = Entry(
            name=s.name,
            family=family(name),
            backend=s.topology.backend,
            timescale=s.topology.timescale,
            steps=len(s.steps),
            description=" ".join(s.description.split()),
            path=str(folder() / f"{name}.yaml"),
        )
        if family_ in (None, entry.family) and backend in (None, entry.backend):
            out.append(entry)
    return out
