"""The user's own workload in a scenario file: the DAG folder made absolute against the
scenario's folder, a requirements file read into checked requirement lines (with the file and
line of any problem). Done on the raw data before validation, so a step that expands at
validation (``chaos``) sees the resolved topology, and again on a model (Python scenarios)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from testbed.core.errors import ScenarioError

_COMMENT = re.compile(r"(^|\s)#.*$")


def resolve_raw(data: dict, base: Path, source: str) -> dict:
    topo = data.get("topology")
    if not isinstance(topo, dict):
        return data
    update = _resolved(topo.get("dags"), topo.get("requirements"), base, source)
    return {**data, "topology": {**topo, **update}} if update else data


def resolve_paths(scenario, base: Path, source: str):
    topo = scenario.topology
    update = _resolved(topo.dags, topo.requirements, base, source)
    if not update:
        return scenario
    return scenario.model_copy(update={"topology": topo.model_copy(update=update)})


def step_files(scenario, base: Path, folder: Path):
    """Each ``dag_drift`` fault's ``stale_from`` and each ``push_dags`` step's files resolved
    (relative to ``base``, the scenario's folder) and checked: (the scenario, [(field,
    problem)])."""
    steps, errors = list(scenario.steps), []
    for i, step in enumerate(steps):
        if step.action == "push_dags":
            steps[i], bad = _pushed_files(step, base, f"steps.{i}.push_dags")
            errors += bad
        if getattr(step, "kind", None) != "dag_drift":
            continue
        where = f"steps.{i}.{step.action}"
        if not (folder / step.file).is_file():
            errors.append((f"{where}.file", f"no {step.file} in the DAG folder {folder}"))
        if step.stale_from:
            path = (base / step.stale_from).resolve()
            if not path.is_file():
                errors.append((f"{where}.stale_from", f"{path} is not a file"))
            steps[i] = step.model_copy(update={"stale_from": str(path)})
    return scenario.model_copy(update={"steps": steps}), errors


def _pushed_files(step, base: Path, where: str):
    """A ``push_dags`` step with its source files made absolute, and the missing ones."""
    files, errors = {}, []
    for path, src in step.files.items():
        files[path] = str((base / src).resolve())
        if not Path(files[path]).is_file():
            errors.append((f"{where}.files.{path}", f"{files[path]} is not a file"))
        if Path(path).is_absolute() or {"..", ".git"} & set(Path(path).parts):
            errors.append((f"{where}.files.{path}", "a path inside the DAG folder, e.g. my_dag.py"))
    return step.model_copy(update={"files": files}), errors


def _resolved(dags, requirements, base: Path, source: str) -> dict:
    update: dict = {}
    if isinstance(dags, str) and not Path(dags).is_absolute():
        update["dags"] = str((base / dags).resolve())
    if isinstance(requirements, str):
        update["requirements"] = requirement_lines(base / requirements, source)
    return update


def requirement_lines(path: Path, source: str) -> list[str]:
    """A requirements file's requirement lines: comments, blanks and line continuations
    handled; pip options (``-r``, ``--index-url``, ``-e``, ``--hash``) refused, since packages
    come from the configured index and are constrained by Airflow's lock."""
    if not path.is_file():
        raise ScenarioError(f"{source}: topology.requirements: {path} is not a file")
    lines = []
    for n, line in _logical_lines(path.read_text()):
        where = f"{source}: topology.requirements: {path} line {n}"
        if line.startswith("-") or " --" in line:
            option = next(w for w in line.split() if w.startswith("-"))
            raise ScenarioError(
                f"{where}: pip options ({option}) are not allowed; list packages only "
                "(name, version specifier, extras)"
            )
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise ScenarioError(f"{where}: {line!r} is not a package requirement: {exc}") from None
        lines.append(line)
    return lines


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, joined line) without comments; ``\\`` continues a line."""
    out, pending, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw).strip()
        start = start or n
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = (pending + line).strip()
        if line:
            out.append((start, line))
        pending, start = "", 0
    return out
