"""Before a drill on a user's DAG folder: wait until the dag-processor has parsed every file that
defines a DAG, and fail with each import error (the file and the error's last line) when one
does not import. A drill on DAGs that do not load would judge nothing; the user learns it in
seconds, not from a trigger that times out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from testbed import airflow_config as AC
from testbed import dagscan
from testbed.core import bounded
from testbed.core.errors import TestbedError

PARSE_TIMEOUT = 90.0  # first parse of a folder on a fresh node (2 cores): about 30 s today
API_BOUND = 25.0


class DagImportErrors(TestbedError):
    """Files of the user's DAG folder that the dag-processor could not import."""


def relative(filename: str) -> str:
    """An import error's file relative to the DAG folder (Airflow reports either form)."""
    return filename.removeprefix(AC.DAGS_FOLDER).lstrip("/")


def summary(errors: dict[str, str]) -> str:
    """One clause per file: ``file: last line of its traceback``."""
    lines = []
    for name, trace in sorted(errors.items()):
        last = [t for t in trace.strip().splitlines() if t.strip()][-1:] or ["(no message)"]
        lines.append(f"{relative(name)}: {last[0].strip()}")
    return "; ".join(lines)


def outstanding(expected: set[str], parsed: set[str], errors: dict[str, str]) -> set[str]:
    """DAG files neither parsed into a DAG nor reported as an import error yet."""
    return expected - parsed - {relative(f) for f in errors}


def wait_parsed(api, folder: Path, timeout: float = PARSE_TIMEOUT, cancelled=None) -> Parsed:
    """Wait until every DAG file of ``folder`` was parsed or failed; raise on import errors
    (every one: the node's DAG folder holds only the user's files). A file still not parsed
    at ``timeout`` is not an error by itself (the scan can over-count: a definition only a
    factory call makes); it is returned, and a step that needs its DAG fails on its own."""
    expected = dagscan.scan(folder).dag_files
    deadline = time.monotonic() + timeout
    while True:
        parsed = bounded.call(api.parsed_files, API_BOUND, "api: list DAGs", key="dagcheck")
        errors = bounded.call(api.import_errors, API_BOUND, "api: import errors", key="dagcheck")
        left = outstanding(expected, parsed, errors)
        late = time.monotonic() > deadline or (cancelled is not None and cancelled.is_set())
        if errors and (not left or late):
            raise DagImportErrors(
                f"{len(errors)} DAG file(s) of {folder} failed to import: {summary(errors)}",
                hint="fix the file(s), or add the missing package to `requirements:`",
            )
        if not left or late:
            return Parsed(sorted(parsed & expected), sorted(left))
        time.sleep(2)


@dataclass
class Parsed:
    files: list[str]  # DAG files the dag-processor turned into DAGs
    not_seen: list[str]  # files the scan expected DAGs from that were not parsed in time
