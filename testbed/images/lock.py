"""Airflow's locks as its users install it: each release's dependency set, cut at its date.

Users install a release with Airflow's published constraints file, and the official image does
too. Instead of downloading that file (it lives on GitHub, which a machine with only package
registries cannot reach), each lock is resolved the way Airflow generates it: the highest
versions (``--resolution highest``) of everything, with every package newer than the
constraints' generation excluded (``--exclude-newer``). The release's constraints are the ones
tagged with its last release candidate, so the cut is that candidate's upload to PyPI; Airflow's
own packages (uploaded a little later) are exempt from it. The lock's header records the recipe,
and :func:`recipe` reads it back, so a test can resolve the lock again and compare its pins
(``tests/integration/test_locks.py``).

``python -m testbed.images.lock 3.1.8 3.3.2`` (``make lock``) writes ``locks/<version>.txt``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from testbed.core.errors import TestbedError
from testbed.images import catalog

AIRFLOW_DIR = Path(__file__).resolve().parent / "airflow"
LOCKS = AIRFLOW_DIR / "locks"
SIMPLE_API = "https://pypi.org/simple/{package}/"
OWN = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk")
# The pins a reported bug most often depends on; the lock test compares these.
CORE = (
    "sqlalchemy",
    "celery",
    "kombu",
    "redis",
    "fastapi",
    "pydantic",
    "psycopg2-binary",
    "psycopg",
    "uvicorn",
    "apache-airflow-providers-celery",
)
# C extensions compiled once, in the layer every version shares (deps.Dockerfile): every lock
# holds them at the default version's pins (the per-version layer has no compiler).
COMPILED = ("gssapi", "krb5", "pykerberos")
_RECIPE = re.compile(r"^# cut: (?P<cut>\S+) \((?P<why>[^)]*)\)$", re.M)


@dataclass(frozen=True)
class Recipe:
    version: str
    cut: str  # ISO time: nothing uploaded after it (Airflow's own packages aside)
    why: str  # which upload the cut is

    def header(self) -> str:
        return (
            f"# Airflow {self.version} as its constraints pin it: the highest versions of every\n"
            "# package, nothing newer than the cut (Airflow's own packages aside; the C\n"
            f"# extensions {', '.join(COMPILED)} held at the shared layer's pins).\n"
            f"# cut: {self.cut} ({self.why})\n"
            "# regenerate: make lock AIRFLOW_VERSIONS=" + self.version + "\n"
        )


def recipe(version: str) -> Recipe:
    """The recipe a committed lock was resolved with (from its header)."""
    path = LOCKS / f"{version}.txt"
    match = _RECIPE.search(path.read_text())
    if match is None:
        raise TestbedError(f"{path}: no '# cut:' line; regenerate it with `make lock`")
    return Recipe(version, match["cut"], match["why"])


def release_cut(version: str) -> Recipe:
    """The upload of the release's last candidate (the final release's when it had none): of
    apache-airflow-core for Airflow 3, of apache-airflow for Airflow 2 (which has no core)."""
    package = "apache-airflow-core" if catalog.major(version) >= 3 else "apache-airflow"
    files = _simple(package)["files"]
    pattern = re.compile(rf"-{re.escape(version)}(rc\d+)?-py3-none-any\.whl$")
    wheels = sorted(
        (f["upload-time"], f["filename"]) for f in files if pattern.search(f["filename"])
    )
    if not wheels:
        raise TestbedError(f"{package} {version} is not on PyPI")
    candidates = [w for w in wheels if "rc" in w[1].split("-")[1]]
    when, name = (candidates or wheels)[-1]
    release = name.split("-")[1]
    return Recipe(version, when, f"the upload of {package} {release}")


def _simple(package: str) -> dict:
    request = urllib.request.Request(
        SIMPLE_API.format(package=package),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def compile_lock(rec: Recipe, *, hashes: bool = True) -> str:
    """Resolve the release's requirements with its recipe; the lock's text, header first."""
    line = catalog.line_of(rec.version)
    requirements = (AIRFLOW_DIR / "requirements.in").read_text().replace("{version}", rec.version)
    requirements += "".join(f"{name}=={pin}\n" for name, pin in _compiled_pins(line).items())
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text(requirements)
        command = [
            *(sys.executable, "-m", "uv", "pip", "compile", str(source)),
            *("--python-version", line.python, "--python-platform", "x86_64-unknown-linux-gnu"),
            *("--resolution", "highest", "--exclude-newer", rec.cut),
            *(a for pkg in (*OWN, *COMPILED) for a in ("--exclude-newer-package", f"{pkg}=false")),
            *("--no-header", "-q", "--custom-compile-command", "make lock"),
            *(["--generate-hashes"] if hashes else []),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TestbedError(f"resolving Airflow {rec.version} failed:\n{done.stderr.strip()}")
    return rec.header() + done.stdout


def _compiled_pins(line: catalog.Line) -> dict[str, str]:
    """The C extensions' pins in the line's default version's lock (its shared layer's); none
    before that lock exists (the line's first lock resolves them)."""
    if not (LOCKS / f"{line.default}.txt").is_file():
        return {}
    pins = catalog.lock_pins(line.default)
    return {name: pins[name] for name in COMPILED if name in pins}


def main(versions: list[str]) -> int:
    # each line's default version first: the others hold its C extensions' pins
    defaults = {line.default for line in catalog.LINES.values()}
    for version in sorted(versions, key=lambda v: v not in defaults):
        rec = release_cut(version)
        (LOCKS / f"{version}.txt").write_text(compile_lock(rec))
        print(f"locked Airflow {version}: nothing newer than {rec.cut} ({rec.why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
