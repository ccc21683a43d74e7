"""Loading scenarios from YAML or Python files, with errors that name the file, the field and
what is allowed; all of it before anything boots."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from testbed import dagscan
from testbed.core import paths
from testbed.core.errors import ScenarioError, TestbedError
from testbed.scenario import own
from testbed.scenario.model import Scenario, allowed_fields, field_path
from testbed.scenario.validate import cross_check


def load(path: str | Path, dags: Path | None = None, target: dict | None = None) -> Scenario:
    """Read and fully validate a ``.yaml``/``.yml`` or ``.py`` scenario file; ``target``: the
    topology keys of an existing cluster to run it on (kubeconfig, registry, namespace), for a
    scenario of ``backend: kubernetes``."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario file")
    if path.suffix in (".yaml", ".yml"):
        data = _yaml(path)
        if target and isinstance(data, dict):
            data = {**data, "topology": _on_target(data.get("topology") or {}, target, path)}
        return from_data(data, str(path), dags, base=path.parent)
    if path.suffix == ".py":
        found = _python(path)
        if target:
            spec = _on_target(found.topology.model_dump(exclude_unset=True), target, path)
            found = found.model_copy(update={"topology": type(found.topology)(**spec)})
        return check(found, str(path), dags, base=path.parent)
    raise ScenarioError(f"{path}: a scenario is a .yaml, .yml or .py file")


def _on_target(topology: dict, target: dict, path: Path) -> dict:
    """The scenario's topology on an existing cluster; refused for a Docker scenario."""
    if topology.get("backend") != "kubernetes":
        raise ScenarioError(
            f"{path}: topology.backend: an existing cluster (--kubeconfig) runs scenarios of "
            "backend: kubernetes only"
        )
    return {**topology, **target}


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
        every = [f"{path}: {e}" for e in every_error(exc)]
        raise ScenarioError(f"{path}: {describe(exc)}", problems=every) from None
    except Exception as exc:  # the file's own error, as one line
        raise ScenarioError(f"{path}: {type(exc).__name__}: {exc}") from None
    found = getattr(module, "SCENARIO", None)
    if not isinstance(found, Scenario):
        raise ScenarioError(f"{path}: defines no SCENARIO = Scenario(...)")
    return found


def from_data(
    data: object, source: str = "<scenario>", dags: Path | None = None, base: Path | None = None
) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with name, topology, steps")
    data = own.resolve_raw(data, base or Path.cwd(), source)  # before a chaos step expands
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        every = [f"{source}: {e}" for e in every_error(exc)]
        raise ScenarioError(f"{source}: {describe(exc)}", problems=every) from None
    return check(scenario, source, dags, base)


def check(
    scenario: Scenario, source: str, dags: Path | None = None, base: Path | None = None
) -> Scenario:
    """Resolve the topology's paths (relative to ``base``, the scenario's folder), build the
    topology, and cross-check the steps against it and the DAG folder's ids."""
    scenario = own.resolve_paths(scenario, base or Path.cwd(), source)
    try:
        scenario.topology.build()
    except TestbedError as exc:
        raise ScenarioError(f"{source}: topology.{exc}") from None
    if scenario.topology.dags and not Path(scenario.topology.dags).is_dir():
        raise ScenarioError(f"{source}: topology.dags: {scenario.topology.dags} is not a folder")
    folder = dags or (Path(scenario.topology.dags) if scenario.topology.dags else paths.dags_dir())
    scan = dagscan.scan(folder)
    scenario, file_errors = own.step_files(scenario, base or Path.cwd(), folder)
    errors = cross_check(scenario, set(scan.ids)) + file_errors
    if scenario.chaos_schedules:  # the user wrote one chaos step, not the steps it expanded to
        errors = [(_chaos_field(f), msg) for f, msg in errors]
    if not scan.complete:  # some DAG ids are computed: an id not listed may still exist
        errors = [e for e in errors if not e[1].startswith("unknown DAG")]
    errors += [
        ("topology.dags", f"{folder / f}: not valid Python ({why})")
        for f, why in scan.unparsable.items()
    ]
    if errors:
        lines = [f"{field}: {msg}" for field, msg in errors]
        problems = [f"{source}: {line}" for line in lines]
        raise ScenarioError(f"{source}: " + "; ".join(lines), problems=problems)
    return scenario


CHAOS_FIELDS = {"workload": "workload", "expect": "expect", "fault": "targets"}


def _chaos_field(field: str) -> str:
    """``steps.3.workload.dag`` of an expanded chaos step -> ``steps.0.chaos.workload``."""
    parts = field.split(".")
    if len(parts) < 3 or parts[0] != "steps":
        return field
    return f"steps.0.chaos.{CHAOS_FIELDS.get(parts[2], parts[2])}"


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``field.path: message`` (the first few)."""
    parts = every_error(exc)
    more = len(parts) - 4
    return "; ".join(parts[:4]) + (f" (and {more} more)" if more > 0 else "")


def every_error(exc: ValidationError) -> list[str]:
    """Each of pydantic's errors as ``field.path: message``."""
    return [_one(err) for err in exc.errors()]


def _one(err: ErrorDetails) -> str:
    loc = ".".join(str(x) for x in field_path(tuple(err["loc"])))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = allowed_fields(tuple(err["loc"]))
        msg = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        loc = loc or "?"
    elif err["type"] == "literal_error":
        msg = f"{msg} (got {err.get('input')!r})"
    elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):  # e.g. a fault's kind
        ctx = err.get("ctx") or {}
        field = str(ctx.get("discriminator", "")).strip("'")
        loc = f"{loc}.{field}" if loc else field
        msg = "Field required"
        if err["type"] == "union_tag_invalid":
            allowed = str(ctx.get("expected_tags", "")).replace("'", "")
            msg = f"unknown {field} {ctx.get('tag')!r}; allowed: {allowed}"
    return f"{loc}: {msg}" if loc else msg
