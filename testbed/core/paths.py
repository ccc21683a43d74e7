"""Where the testbed keeps its state on the host: run records, build caches.

``TESTBED_HOME`` (default ``./.testbed``) holds one folder per run under ``runs/``; the Go and
build caches live under ``TESTBED_CACHE`` (default ``~/.cache/testbed``) so that fresh clones
of the project reuse them.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("TESTBED_HOME", ".testbed")).resolve()


def runs_dir() -> Path:
    return home() / "runs"


def run_dir(run_id: str) -> Path:
    return runs_dir() / run_id


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "testbed"
    return Path(os.environ.get("TESTBED_CACHE", default)).expanduser().resolve()


def project_root() -> Path:
    """The source tree (scenarios/ lives here); falls back to the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "scenarios").is_dir() else Path.cwd()


def dags_dir() -> Path:
    """The testbed's own DAGs (``scenarios/dags``), what a topology without ``dags:`` mounts."""
    return project_root() / "scenarios" / "dags"
