"""Which DAG ids a folder of DAG files defines, read from the source (``ast``), never by
importing it: a user's DAGs may need packages the host lacks, and importing them would run
their code on the host.

Recognised: ``@dag`` / ``@dag(...)`` / ``@dag("id")`` functions (the id is the literal, else the
function's name), ``DAG("id")`` / ``DAG(dag_id="id")`` calls (``with DAG(...)`` included), also
under an alias (``from airflow.sdk import DAG as D``). An id that is not a literal string (an
f-string, a variable, a loop) cannot be read; such definitions are counted, so a caller knows
the list may be incomplete.

A *DAG file* (one the dag-processor will parse into DAGs) is one with a definition at module
level; a ``DAG(...)`` inside a function (a factory in a helper module) defines nothing until
called. Files matched by the folder's ``.airflowignore`` (glob syntax, Airflow 3's default)
are skipped, as the dag-processor skips them.
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = {"__pycache__", ".git", ".venv", "node_modules"}
IGNORE_FILE = ".airflowignore"


@dataclass
class Scan:
    """The result of scanning a folder: ids by file, files that define DAGs the scan could
    not name, files that are not valid Python."""

    ids: dict[str, str] = field(default_factory=dict)  # dag id -> relative file
    computed: list[str] = field(default_factory=list)  # files with a DAG whose id is computed
    unparsable: dict[str, str] = field(default_factory=dict)  # file -> syntax error
    dag_files: set[str] = field(default_factory=set)  # files with a module-level definition

    @property
    def complete(self) -> bool:
        """Every DAG definition found had a literal id (so an id not listed does not exist)."""
        return not self.computed and not self.unparsable


def python_files(folder: Path) -> list[Path]:
    """The ``.py`` files under ``folder`` (recursively; caches, VCS folders and what
    ``.airflowignore`` matches skipped)."""
    ignore = _ignore_patterns(folder)
    out = []
    for p in sorted(folder.rglob("*.py")):
        rel = p.relative_to(folder)
        if not p.is_file() or SKIP_DIRS & set(rel.parts[:-1]):
            continue
        if any(fnmatch.fnmatch(rel.as_posix(), pat) for pat in ignore):
            continue
        out.append(p)
    return out


def _ignore_patterns(folder: Path) -> list[str]:
    path = folder / IGNORE_FILE
    if not path.is_file():
        return []
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    pats = [ln.rstrip("/") for ln in lines if ln]
    return [q for p in pats for q in (p, f"{p}/*", f"*/{p}", f"*/{p}/*")]


def scan(folder: Path) -> Scan:
    out = Scan()
    for path in python_files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            tree = ast.parse(path.read_bytes(), filename=rel)
        except SyntaxError as exc:
            out.unparsable[rel] = f"line {exc.lineno}: {exc.msg}"
            continue
        found = _Finder(tree)
        for dag_id in found.ids:
            out.ids.setdefault(dag_id, rel)
        if found.computed:
            out.computed.append(rel)
        if found.module_level:
            out.dag_files.add(rel)
    return out


def file_ids(path: Path) -> list[str]:
    """The literal DAG ids one Python file defines (none if it does not parse)."""
    try:
        return _Finder(ast.parse(path.read_bytes(), filename=path.name)).ids
    except SyntaxError:
        return []


def dag_ids(folder: Path) -> set[str]:
    return set(scan(folder).ids)


class _Finder:
    """One module's definitions: literal ids, how many were computed, whether any is at
    module level."""

    def __init__(self, tree: ast.Module) -> None:
        self.names = _aliases(tree)
        self.called = _called_at_module_level(tree)
        self.ids: list[str] = []
        self.computed = 0
        self.module_level = False
        self._visit(tree.body, nested=False)

    def _visit(self, nodes: list[ast.AST], nested: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self._function(node, nested)
                self._visit(node.body, nested=True)
                continue
            for sub in ast.walk(node) if not isinstance(node, ast.ClassDef) else [node]:
                if isinstance(sub, ast.Call) and self.names.get(_callee(sub.func)) == "DAG":
                    self._add(_id_arg(sub, positional=True), None, nested)
                elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    self._function(sub, nested=True)
            if isinstance(node, ast.ClassDef):
                self._visit(node.body, nested=True)

    def _function(self, node, nested: bool) -> None:
        """A ``@dag`` function defines a DAG when called: at module level if it is called
        there (Airflow 3 needs the call)."""
        for deco in node.decorator_list:
            if self.names.get(_callee(deco)) == "dag":
                found = _id_arg(deco, positional=True) if isinstance(deco, ast.Call) else None
                self._add(found, node.name, nested or node.name not in self.called)

    def _add(self, found: str | None | bool, default: str | None, nested: bool) -> None:
        dag_id = default if found is None or found == "" else found
        if isinstance(dag_id, str) and dag_id:
            self.ids.append(dag_id)
        else:
            self.computed += 1
        self.module_level |= not nested


def _called_at_module_level(tree: ast.Module) -> set[str]:
    """Names called by module-level code (not inside a function's body)."""
    called: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                called.add(sub.func.id)
    return called


def _aliases(tree: ast.Module) -> dict[str | None, str]:
    """Local names that mean ``DAG`` or ``dag`` (``from airflow.sdk import DAG as D``)."""
    names: dict[str | None, str] = {"DAG": "DAG", "dag": "dag"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name in ("DAG", "dag") and a.asname:
                    names[a.asname] = a.name
    return names


def _callee(node: ast.AST) -> str | None:
    """``dag`` for ``dag``, ``dag(...)``, ``airflow.sdk.dag(...)``; ``DAG`` likewise."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _id_arg(call: ast.Call, positional: bool = False) -> str | None | bool:
    """The literal ``dag_id`` of a ``DAG(...)``/``@dag(...)`` call: a string (``""`` and None
    mean "the function's name" for ``@dag``); None when the call names none; False when it
    is computed."""
    arg = next((k.value for k in call.keywords if k.arg == "dag_id"), None)
    if arg is None and positional and call.args:
        arg = call.args[0]
    if arg is None:
        return None
    if isinstance(arg, ast.Constant) and (arg.value is None or isinstance(arg.value, str)):
        return arg.value
    return False
