"""MkDocs hook: the reference pages, generated when the site is built from the testbed's own
registries and pydantic models, so they cannot drift from what the code accepts.

==========================  ===================================================
``reference/faults.md``     ``testbed.faults.registry.REGISTRY``
``reference/checks.md``     ``testbed.checks.registry.REGISTRY``
``reference/steps.md``      ``testbed.scenario.steps.ACTION_MODELS``
``reference/topology.md``   ``testbed.scenario.topology_spec.TopologySpec``
``reference/catalogue.md``  ``testbed.scenario.catalog.entries()``
==========================  ===================================================

The pages are virtual files (``File.generated``): nothing is written into ``docs/``. A field's
text is its pydantic ``description``, else the comment beside (or right above) it in the source.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import textwrap
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]  # the repository: the testbed documented is this one

GENERATED = (
    '!!! note "Generated"\n    This page is generated from `{source}` each time the site is '
    "built; it always matches the code it was built from.\n\n"
)


# -- MkDocs events ----------------------------------------------------------------------------
def on_files(files, config):
    from mkdocs.structure.files import File

    use_this_checkout()
    for src_uri, render in PAGES.items():
        files.append(File.generated(config, src_uri, content=render()))
    return files


def use_this_checkout() -> None:
    """Import ``testbed`` from the checkout this hook is in, never from another one an editable
    install points at (MkDocs restores ``sys.path`` after loading a hook: so, at build time)."""
    from mkdocs.exceptions import PluginError

    sys.path[:] = [str(ROOT), *(p for p in sys.path if p != str(ROOT))]
    import testbed

    if ROOT not in Path(testbed.__file__).resolve().parents:
        raise PluginError(f"testbed is imported from {testbed.__file__}, not from {ROOT}")


# -- what a field or parameter looks like on a page --------------------------------------------
class Param(NamedTuple):
    name: str
    type: str
    default: str
    doc: str


def fault_parameters(spec) -> list[Param]:
    """The parameters one fault kind takes: its ``FaultSpec``'s pydantic model, field by field
    (none for a kind without parameters)."""
    params = getattr(spec, "params", None)
    if isinstance(params, type) and issubclass(params, BaseModelType()):
        return model_params(params, skip=("kind",))
    return []


def BaseModelType() -> type:  # noqa: N802 (a type, looked up late: pydantic only when building)
    from pydantic import BaseModel

    return BaseModel


def model_params(model: type, skip: tuple[str, ...] = ("action",)) -> list[Param]:
    """Every field of a pydantic model: its name in YAML (the alias), type, default, text."""
    comments = field_comments(model)
    out = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        doc = rst_to_md(info.description or comments.get(name, ""))
        limit = constraints(info.metadata)
        text = f"{doc} ({limit})" if doc and limit else doc or limit
        kind = type_name(info.annotation, info.metadata)
        default = default_of(info)
        if kind.startswith("duration") and default.startswith("`"):
            default = default[:-1] + "s`"  # 120 -> 120s, as a scenario writes it
        out.append(Param(info.alias or name, kind, default, text))
    return out


def type_name(tp, metadata=()) -> str:
    duration = _duration(metadata)
    if duration:
        return duration if tp is float else type_name(tp).replace("number", duration, 1)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None) or tp is None:
        return "null"
    if origin is typing.Annotated:
        return _duration(args[1:]) or _pattern(args[1:]) or type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts + (["null"] if type(None) in args else []))
    if origin is typing.Literal:
        values = ", ".join(f"`{v}`" for v in args)
        return values if len(args) == 1 else f"one of {values}"
    if origin in (list, tuple, set, frozenset):
        inner = [type_name(a) for a in args if a is not Ellipsis]
        if origin is tuple and len(inner) > 1:
            return f"[{', '.join(inner)}]"
        return f"list of {inner[0]}" if inner else "list"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    if tp is typing.Any:
        return "any"
    if isinstance(tp, type) and issubclass(tp, BaseModelType()):
        return f"mapping ({', '.join(f'`{f}`' for f in tp.model_fields)})"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "mapping"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _duration(metadata) -> str:
    """``Duration`` is a float parsed by a validator: ``30s``, ``2m``, ``500ms`` or seconds."""
    for m in metadata:
        name = getattr(getattr(m, "func", None), "__name__", "")
        if name == "parse_duration":
            return "duration"
        if name == "parse_signed_duration":
            return "signed duration"
    return ""


def _pattern(metadata) -> str:
    for m in metadata:
        for inner in [m, *getattr(m, "metadata", [])]:
            pattern = getattr(inner, "pattern", None)
            if pattern:
                return f"string matching `{pattern}`"
    return ""


def constraints(metadata) -> str:
    words = []
    for m in metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                words.append(f"{sign} {getattr(m, attr):g}")
        if getattr(m, "min_length", None):
            words.append(f"at least {m.min_length} item{'s' if m.min_length > 1 else ''}")
        if getattr(m, "pattern", None):
            words.append(f"matches `{m.pattern}`")
    return ", ".join(words)


def default_of(info) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "null"
    if value == "":
        return '`""`'
    if isinstance(value, BaseModelType()):
        return "its own defaults"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, list | dict | tuple):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


FIELD = re.compile(r"^    (\w+)\s*:")  # a field of the class body (four spaces in)
LINT = re.compile(r"type: ignore(\[[^\]]*\])?|noqa(: *[A-Z0-9, ]+)?")


def field_comments(model: type) -> dict[str, str]:
    """``field -> comment`` over the model and its bases (a subclass's comment wins)."""
    out: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not klass.__module__.startswith(("pydantic", "builtins")):
            out.update(_own_comments(klass))
    return out


def _own_comments(klass: type) -> dict[str, str]:
    try:
        lines = textwrap.dedent(inspect.getsource(klass)).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = FIELD.match(line)
        if match:
            tail = LINT.sub("", line.partition("  # ")[2]).strip(" ;")
            text = " ".join([*pending, tail]).strip()
            if text:
                found[match.group(1)] = text
        pending = []
    return found


def doc_of(obj) -> str:
    """An object's own docstring (never a base class's), as Markdown."""
    raw = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return rst_to_md(inspect.cleandoc(raw)) if raw else ""


def rst_to_md(text: str) -> str:
    text = re.sub(r":\w+:`~([^`]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") or "—"


def params_table(params: list[Param]) -> str:
    if not params:
        return "No parameters.\n"
    rows = ["| field | type | default | what it is |", "|---|---|---|---|"]
    rows += [f"| `{p.name}` | {cell(p.type)} | {cell(p.default)} | {cell(p.doc)} |" for p in params]
    return "\n".join(rows) + "\n"


# -- the pages ----------------------------------------------------------------------------------
def faults_page() -> str:
    from testbed.faults.registry import REGISTRY

    out = [
        "# Fault kinds\n",
        GENERATED.format(source="testbed.faults.registry.REGISTRY"),
        "A `fault` step names one of these kinds (`kind:`), a `target` (a node, a link such as "
        "`scheduler->postgres`, or `host_of:RUN.TASK`) and the kind's own parameters; every "
        "fault is healed at the end of the scenario whatever happened. The fields every fault "
        "step has are in [Steps](steps.md#fault); how drills use them, in "
        "[Drills](../drills.md#faults).\n",
        "| kind | what it does | healed | loses a running task's log | drawn by chaos |",
        "|---|---|---|---|---|",
    ]
    for kind, spec in REGISTRY.items():
        out.append(
            f"| [`{kind}`](#{kind}) | {cell(spec.doc)} | {healed(spec)} | "
            f"{yes(spec.loses_task_log)} | {yes(spec.chaos)} |"
        )
    for kind, spec in REGISTRY.items():
        out += [
            f"\n## `{kind}` {{#{kind}}}\n",
            f"{spec.doc}\n",
            f"- **Healed**: {healed(spec, long=True)}.",
            "- **A task running on the target**: "
            + (
                "uploads no log (the log checks excuse that attempt)."
                if spec.loses_task_log
                else "keeps its log."
            ),
            f"- **Seeded chaos**: {'may draw it' if spec.chaos else 'never draws it'}.",
            f"- **Implemented by**: `{spec.impl}`.\n",
            "**Parameters** (besides `name`, `target`, `for`, `delay`, `timeout`):\n",
            params_table(fault_parameters(spec)),
        ]
    return "\n".join(out)


def healed(spec, long: bool = False) -> str:
    if spec.healed_by_step:
        return (
            "by a `heal` step, or at the scenario's end (`for:` does not apply)"
            if long
            else "by a step"
        )
    return (
        "after `for:` a duration, or by a `heal` step, or at the scenario's end"
        if long
        else "by time (`for:`) or a step"
    )


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def checks_page() -> str:
    from testbed.checks.registry import REGISTRY

    out = [
        "# Checks\n",
        GENERATED.format(source="testbed.checks.registry.REGISTRY"),
        "An `expect` step names a check (`check:`) and gives the check's parameters beside "
        "`name`, `within` (eventually), `during` (always) and `finding` (recorded, not part of "
        "the verdict); see [Steps](steps.md#expect). A check is a pure function over the "
        "recorded history: it never touches the cluster.\n",
        "| check | what holds |",
        "|---|---|",
    ]
    for name, spec in REGISTRY.items():
        first = (doc_of(spec.fn) or doc_of(spec.params)).split("\n\n")[0]
        out.append(f"| [`{name}`](#{name}) | {cell(first)} |")
    for name, spec in REGISTRY.items():
        doc = doc_of(spec.fn) or doc_of(spec.params) or "(no description in the code)"
        out += [f"\n## `{name}` {{#{name}}}\n", f"{doc}\n"]
        if spec.needs:
            needs = ", ".join(f"`{n}`" for n in spec.needs)
            out.append(f"Observed for it before it is judged: {needs}.\n")
        out += [
            f"**Parameters** (`{spec.params.__name__}`):\n",
            params_table(model_params(spec.params, skip=())),
        ]
    return "\n".join(out)


STEP_FALLBACK = {  # for step models whose class has no docstring of its own
    "trigger": "Trigger a run of `dag` (with `conf`), named `name` for the later steps.",
    "wait": "Wait until a run (or one `task` of it) reaches `state`, at most `timeout`.",
    "fault": "Inject a fault of a [kind](faults.md) into `target`: until a later `heal` step, "
    "or `for:` a duration.",
    "heal": "Heal the fault named `fault`.",
    "sleep": "Wait `seconds` (scaled by the timescale).",
    "stop_workload": "Stop the workload named `name`.",
    "wait_node": "Wait until `node` is `exited`, `running` or `ready`, at most `timeout`.",
}


def steps_page() -> str:
    from testbed.scenario.base import DEFAULT_BOUNDS
    from testbed.scenario.steps import ACTION_MODELS

    out = [
        "# Steps\n",
        GENERATED.format(source="testbed.scenario.steps.ACTION_MODELS"),
        "A scenario's `steps:` is a list; each step is a mapping with one key, the action, "
        "whose value holds its fields (`- wait: {run: long, state: success}`). Durations are "
        "`30s`, `2m`, `500ms`, `1h` or a number of seconds. Every step has a bound: the runner "
        "never waits longer for it "
        "([The runner never hangs](../drills.md#the-runner-never-hangs)).\n",
    ]
    out += [scenario_fields(), "\n## The steps {#steps}\n"]
    docs = {a: step_doc(a, m) for a, m in ACTION_MODELS.items()}
    out += ["| action | what it does |", "|---|---|"]
    for action in ACTION_MODELS:
        out.append(f"| [`{action}`](#{action}) | {cell(docs[action].split(chr(10) * 2)[0])} |")
    for action, model in ACTION_MODELS.items():
        out += [f"\n## `{action}` {{#{action}}}\n", f"{docs[action]}\n"]
        if not (isinstance(model, type) and issubclass(model, BaseModelType())):
            out.append("(Its fields are per kind; see [Fault kinds](faults.md).)\n")
            continue
        params = model_params(model)
        if action in DEFAULT_BOUNDS and "timeout" in model.model_fields:
            params = [
                Param(p.name, p.type, f"`{DEFAULT_BOUNDS[action]:g}s`", "the step's bound")
                if p.name == "timeout" and p.default == "null"
                else p
                for p in params
            ]
        out += ["**Fields**:\n", params_table(params)]
    return "\n".join(out)


def scenario_fields() -> str:
    """The top level of a scenario file (``Scenario``): its topology and steps link on."""
    from testbed.scenario.model import Scenario

    linked = {
        "topology": "mapping: see [Topology](topology.md)",
        "steps": "list of [steps](#steps)",
    }
    params = [p._replace(type=linked.get(p.name, p.type)) for p in model_params(Scenario, ())]
    return "\n## A scenario {#scenario}\n\n" + params_table(params)


def step_doc(action: str, model) -> str:
    return doc_of(model) or STEP_FALLBACK.get(action, "")


def topology_page() -> str:
    from testbed.scenario.topology_spec import TopologySpec

    return "\n".join(
        [
            "# Topology\n",
            GENERATED.format(source="testbed.scenario.topology_spec.TopologySpec"),
            "A scenario's `topology:` says what cluster the drill runs on; a field left out "
            "takes its default. `testbed up` has an option for most of them (`testbed up -h`).\n",
            doc_of(TopologySpec) + "\n" if doc_of(TopologySpec) else "",
            params_table(model_params(TopologySpec, skip=())),
            "\n```yaml\ntopology:\n  workers: 2\n  airflow_version: 3.3.1\n"
            "  config: {scheduler.scheduler_health_check_threshold: 20}\n  timescale: 0.5\n```\n",
        ]
    )


FAMILY_TITLES = {
    "faults": ("Fault drills", "../drills.md"),
    "upgrade": ("Upgrade drills", "../upgrades.md"),
    "kerberos": ("Kerberos drills", "../kerberos.md"),
    "k8s": ("Kubernetes drills", "../kubernetes.md"),
}


def catalogue_page() -> str:
    from testbed.scenario import catalog

    entries = catalog.entries()
    out = [
        "# Drill catalogue\n",
        GENERATED.format(source="testbed.scenario.catalog.entries()"),
        f"The {len(entries)} drills shipped in `scenarios/`. Run one by its bare name "
        "(`testbed run scheduler_hang`), list them with `testbed list` "
        "(`--family`, `--backend`, `--json`); `make test` runs them all.\n",
    ]
    for family in catalog.FAMILIES:
        title, page = FAMILY_TITLES.get(family, (family, ""))
        rows = [e for e in entries if e.family == family]
        if not rows:
            continue
        more = f" More in [{title}]({page})." if page else ""
        out += [
            f"\n## {title} {{#{family}}}\n",
            f"`testbed list --family {family}`.{more}\n",
            "| drill | backend | timescale | steps | what it proves |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| [`{e.name}`](#{e.name}) | {e.backend} | {e.timescale:g} | {e.steps} | "
            f"{cell(gist(e.description))} |"
            for e in rows
        ]
        for e in rows:
            out += [
                f"\n### `{e.name}` {{#{e.name}}}\n",
                f"{e.description}\n",
                f"`testbed run {e.name}` · `scenarios/{e.name}.yaml` · backend {e.backend}, "
                f"timescale {e.timescale:g}, {e.steps} steps\n",
            ]
    return "\n".join(out) + "\n"


def gist(text: str, limit: int = 160) -> str:
    """The first sentence of ``text``, at most ``limit`` characters (cut at a word)."""
    first = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0]
    if cut.count("`") % 2:  # never end inside a code span
        cut = cut[: cut.rindex("`")].rstrip()
    return cut + " …"


PAGES: dict[str, Callable[[], str]] = {
    "reference/faults.md": faults_page,
    "reference/checks.md": checks_page,
    "reference/steps.md": steps_page,
    "reference/topology.md": topology_page,
    "reference/catalogue.md": catalogue_page,
}
