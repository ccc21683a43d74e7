"""Which DAG ids a folder of DAG files defines, read from the source (``ast``), never by
importing it: a user's DAGs may need packages the host lacks, and importing them would run
their code on the host.

Recognised: ``@dag`` / ``@dag(...)`` functions (the id is ``dag_id=`` or the function's name),
``DAG("id")`` / ``DAG(dag_id="id")`` calls (``with DAG(...)`` included). An id that is not a
literal string (an f-string, a variable, a loop) cannot be read; such definitions are counted,
so a caller knows the list may be incomplete.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = {"__pycache__", ".git", ".venv", "node_modules"}


@dataclass
class Scan:
    """The result of scanning a folder: ids by file, files that define DAGs the scan could
    not name, files that are not valid Python."""

    ids: dict[str, str] = field(default_factory=dict)  # dag id -> relative file
    computed: list[str] = field(default_factory=list)  # files with a DAG whose id is computed
    unparsable: dict[str, str] = field(default_factory=dict)  # file -> syntax error

    @property
    def complete(self) -> bool:
        """Every DAG definition found had a literal id (so an id not listed does not exist)."""
        return not self.computed and not self.unparsable

    @property
    def dag_files(self) -> set[str]:
        return set(self.ids.values()) | set(self.computed)


def python_files(folder: Path) -> list[Path]:
    """The ``.py`` files under ``folder`` (recursively, caches and VCS folders skipped)."""
    return sorted(
        p
        for p in folder.rglob("*.py")
        if p.is_file() and not SKIP_DIRS & set(p.relative_to(folder).parts[:-1])
    )


def scan(folder: Path) -> Scan:
    out = Scan()
    for path in python_files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            tree = ast.parse(path.read_bytes(), filename=rel)
        except SyntaxError as exc:
            out.unparsable[rel] = f"line {exc.lineno}: {exc.msg}"
            continue
        ids, computed = _definitions(tree)
        for dag_id in ids:
            out.ids.setdefault(dag_id, rel)
        if computed:
            out.computed.append(rel)
    return out


def dag_ids(folder: Path) -> set[str]:
    return set(scan(folder).ids)


def _definitions(tree: ast.AST) -> tuple[list[str], int]:
    """The literal DAG ids defined in one module, and how many definitions had computed ids."""
    found: list[str | None] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in node.decorator_list:
                if _callee(deco) == "dag":
                    dag_id = _id_arg(deco) if isinstance(deco, ast.Call) else None
                    found.append(node.name if dag_id is None else dag_id or None)
        elif isinstance(node, ast.Call) and _callee(node.func) == "DAG":
            found.append(_id_arg(node) or None)
    ids = [f for f in found if isinstance(f, str)]
    return ids, len(found) - len(ids)


def _callee(node: ast.AST) -> str | None:
    """``dag`` for ``dag``, ``dag(...)``, ``airflow.sdk.dag(...)``; ``DAG`` likewise."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _id_arg(call: ast.Call) -> str | None | bool:
    """The literal ``dag_id`` of a ``DAG(...)``/``@dag(...)`` call: a string; None when the call
    names none (``@dag()`` then takes the function's name); False when it is computed."""
    arg = next((k.value for k in call.keywords if k.arg == "dag_id"), None)
    if arg is None and call.args and _callee(call) == "DAG":
        arg = call.args[0]
    if arg is None:
        return None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return False
