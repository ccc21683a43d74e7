"""A folder of DAGs parsed by one Airflow version, with no cluster: the version's image run
once (labelled like a run's container, removed when it ends) with the folder mounted read-only,
Airflow's own DagBag importing every file. Ruff's rules read the files; this imports them, so
it also catches what no rule knows (a module moved by a provider, a plugin's import, a
changed signature called at parse time).

``testbed preflight`` parses the user's folder under the version they upgrade to, and under
the one they come from: a file that imports on the first and not on the second is what the
upgrade breaks.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from testbed.core.errors import TestbedError

PARSE_TIMEOUT = 180.0  # seconds: Airflow's imports and a folder's files, on a busy machine
MOUNT = "/opt/airflow/dags"
MARK = "@@testbed-parse@@"
# Run inside the image: Airflow 3's DagBag (airflow.dag_processing.dagbag; 3.2+ dropped
# include_examples, the examples stay off by the environment) or Airflow 2's (airflow.models)
SCRIPT = f"""
import inspect, json, logging, sys, warnings
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
wanted = {{"include_examples": False, "safe_mode": False}}
accepted = inspect.signature(DagBag.__init__).parameters
bag = DagBag(sys.argv[1], **{{k: v for k, v in wanted.items() if k in accepted}})
print({MARK!r} + json.dumps({{"dags": sorted(bag.dag_ids), "errors": bag.import_errors}}))
"""
_FRAME = re.compile(r'File "' + re.escape(MOUNT) + r'/(?P<file>[^"]+)", line (?P<line>\d+)')


@dataclass(frozen=True)
class ImportFailure:
    file: str  # relative to the DAG folder
    line: int | None  # the folder's own line the error went through last, when it did
    error: str  # the traceback's last line: the exception and its message

    def text(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.error}"


@dataclass(frozen=True)
class Parsed:
    version: str
    dags: tuple[str, ...]
    failures: tuple[ImportFailure, ...]

    def failed(self, file: str) -> bool:
        return any(f.file == file for f in self.failures)


def failure(filename: str, traceback: str) -> ImportFailure:
    """One import error as DagBag reports it (the file's path in the container, the whole
    traceback) made readable (pure)."""
    lines = [ln for ln in traceback.splitlines() if ln.strip()]
    frames = list(_FRAME.finditer(traceback))
    last = frames[-1] if frames else None
    return ImportFailure(
        filename.removeprefix(MOUNT).lstrip("/"),
        int(last["line"]) if last else None,
        lines[-1].strip() if lines else "import failed",
    )


def read(version: str, output: str) -> Parsed:
    """The script's answer in the container's output (pure)."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARK):
            answer = json.loads(line.removeprefix(MARK))
            failures = sorted(
                (failure(name, tb) for name, tb in answer["errors"].items()),
                key=lambda f: f.file,
            )
            return Parsed(version, tuple(answer["dags"]), tuple(failures))
    tail = " | ".join(output.strip().splitlines()[-3:])[-400:]
    raise TestbedError(f"parsing the DAGs under Airflow {version} gave no answer: {tail}")


def parse(dags: Path, version: str, *, timeout: float = PARSE_TIMEOUT) -> Parsed:
    """Import every file of ``dags`` with Airflow ``version`` (its image must be built)."""
    from testbed import runtime
    from testbed.core.errors import ExecTimeout

    if not dags.is_dir():
        raise TestbedError(f"--dags {dags}: not a folder")
    image = built_image(version, "parsing the DAGs", "--no-parse")
    try:
        done = runtime.run_once(
            image,
            [MOUNT],
            timeout=timeout,
            node="preflight-parse",
            entrypoint=["python", "-c", SCRIPT],
            # as the caller (a folder only its owner reads is read), a home anyone may write
            user=f"{os.getuid()}:{os.getgid()}",
            environment={"AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW_HOME": "/tmp/airflow"},
            volumes={str(dags.resolve()): {"bind": MOUNT, "mode": "ro"}},
        )
    except ExecTimeout:
        raise TestbedError(
            f"parsing the DAGs under Airflow {version} did not end in {timeout:g} s"
        ) from None
    return read(version, done.stdout + done.stderr)


def unavailable(version: str) -> str | None:
    """Why the files cannot be imported under ``version`` here (no engine, its image not
    built), or None."""
    from testbed.core.errors import DockerUnavailable
    from testbed.images import build, catalog

    try:
        if build.exists_name(catalog.airflow_ref(version).name):
            return None
    except DockerUnavailable:
        return "no Docker engine answers"
    build_it = f"testbed images build --airflow-version {version}"
    return f"Airflow {version}'s image is not built (`{build_it}`)"


def built_image(version: str, what: str, instead: str) -> str:
    """The image of ``version``, which must be here for ``what`` (else one line saying why
    not and how, or ``instead``)."""
    from testbed.images import catalog

    why = unavailable(version)
    if why:
        raise TestbedError(f"{what} under Airflow {version}: {why} (or pass {instead})")
    return catalog.airflow_ref(version).name
