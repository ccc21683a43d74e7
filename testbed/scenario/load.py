"""Loading scenarios from YAML or Python files, with errors that name the file, the field and
what is allowed; all of it before anything boots."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml
from pydantic import ValidationError

from testbed.errors import ScenarioError
from testbed.scenario.model import Scenario, allowed_fields
from testbed.scenario.validate import cross_check, dag_ids
from testbed.services.airflow import dags_dir


def load(path: str | Path, dags: Path | None = None) -> Scenario:
    """Read and fully validate a ``.yaml``/``.yml`` or ``.py`` scenario file."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario file")
    if path.suffix in (".yaml", ".yml"):
        return from_data(_yaml(path), str(path), dags)
    if path.suffix == ".py":
        return check(_python(path), str(path), dags)
    raise ScenarioError(f"{path}: a scenario is a .yaml, .yml or .py file")


def _yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", exc)
        raise ScenarioError(f"{path}{where}: not valid YAML: {problem}") from None


def _python(path: Path) -> Scenario:
    spec = importlib.util.spec_from_file_location(f"testbed_scenario_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {describe(exc)}") from None
    except Exception as exc:  # the file's own error, as one line
        raise ScenarioError(f"{path}: {type(exc).__name__}: {exc}") from None
    found = getattr(module, "SCENARIO", None)
    if not isinstance(found, Scenario):
        raise ScenarioError(f"{path}: defines no SCENARIO = Scenario(...)")
    return found


def from_data(data: object, source: str = "<scenario>", dags: Path | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with name, topology, steps")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {describe(exc)}") from None
    return check(scenario, source, dags)


def check(scenario: Scenario, source: str, dags: Path | None = None) -> Scenario:
    errors = cross_check(scenario, dag_ids(dags or dags_dir()))
    if errors:
        lines = [f"{field}: {msg}" for field, msg in errors]
        raise ScenarioError(f"{source}: " + "; ".join(lines))
    return scenario


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``field.path: message`` (the first few)."""
    parts = []
    for err in exc.errors()[:4]:
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = allowed_fields(tuple(err["loc"]))
            msg = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
            loc = loc or "?"
        elif err["type"] == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = len(exc.errors()) - 4
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
