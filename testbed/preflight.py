"""Before an Airflow 2 -> 3 upgrade: what in a folder of DAGs will break, checked the way
Airflow's "Upgrading to Airflow 3" guide says (ruff's Airflow rules), before anything stops.

Ruff's ``AIR301`` (removed in Airflow 3: ``schedule_interval``, ``days_ago``, SubDAGs, the
``execution_date`` context key ...), ``AIR302`` (moved to a provider, the old import gone) and
``AIR303`` (a changed call signature) break a DAG on 3.x; ``AIR311`` and ``AIR312`` (removed or
moved but still shimmed) are advice. Ruff reads the files, it imports nothing; the guide's
second step, parsing the folder under the target version, is ``testbed up --dags DIR
--airflow-version TO``, which reports each import error.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed.core.errors import TestbedError

BREAKING = {
    "AIR301": "removed in Airflow 3",
    "AIR302": "moved to a provider; the Airflow 2 import is gone",
    "AIR303": "its call signature changed in Airflow 3",
}
ADVISED = {
    "AIR311": "removed from Airflow 3's core; a shim still serves it",
    "AIR312": "moved to a provider; the old import still works",
}
LINT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Finding:
    file: str  # relative to the DAG folder
    line: int
    code: str
    message: str

    @property
    def breaking(self) -> bool:
        return self.code in BREAKING

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.code} {self.message}"


def _ruff() -> str:
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:  # pragma: no cover - ruff is a dependency
        raise TestbedError("ruff is not installed: pip install 'ruff>=0.13.1'") from None
    return find_ruff_bin()


def lint(dags: Path) -> list[Finding]:
    """Ruff's Airflow 3 rules over every Python file of ``dags`` (no project config of the
    folder's own is read: the verdict does not depend on where the folder lives)."""
    if not dags.is_dir():
        raise TestbedError(f"--dags {dags}: not a folder")
    codes = ",".join([*BREAKING, *ADVISED])
    cmd = [_ruff(), "check", "--isolated", "--no-cache", "--select", codes]
    cmd += ["--output-format", "json", "--exit-zero", str(dags)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=LINT_TIMEOUT, check=True)
    except subprocess.CalledProcessError as exc:
        raise TestbedError(f"ruff could not check {dags}: {exc.stderr.strip()[-300:]}") from None
    root = dags.resolve()
    return sorted(
        (
            Finding(
                str(Path(d["filename"]).resolve().relative_to(root)),
                d["location"]["row"],
                d["code"],
                d["message"],
            )
            for d in json.loads(out.stdout or "[]")
        ),
        key=lambda f: (f.file, f.line, f.code),
    )


CONFIG_IN_IMAGE = "/tmp/airflow.cfg"
LINT_ISSUE = "  - "  # how `airflow config lint` lists each issue


def config_lint(cfg: Path, version: str) -> list[str]:
    """``airflow config lint`` of the target version over the user's ``airflow.cfg``, in that
    version's image (one short container, labelled like a run's and removed when it exits):
    each option it reports moved, renamed, removed or with a changed default."""
    from testbed import runtime
    from testbed.dagparse import built_image

    if not cfg.is_file():
        raise TestbedError(f"--config {cfg}: not a file")
    image = built_image(version, "--config", "no --config")
    done = runtime.run_once(
        image,
        ["config", "lint"],
        timeout=LINT_TIMEOUT,
        node="preflight-config",
        entrypoint=["airflow"],
        environment={"AIRFLOW_CONFIG": CONFIG_IN_IMAGE},
        volumes={str(cfg.resolve()): {"bind": CONFIG_IN_IMAGE, "mode": "ro"}},
    )
    if done.code != 0:  # e.g. a file Airflow cannot read: no verdict, not "nothing to say"
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[-400:]
        raise TestbedError(f"--config {cfg}: `airflow config lint` of {version} failed: {tail}")
    lines = done.stdout.splitlines()
    return [ln.removeprefix(LINT_ISSUE).strip() for ln in lines if ln.startswith(LINT_ISSUE)]
