"""DAG drift: one node's copy of a DAG file out of step with the rest, as when its sync (the
guide's cron job pulling a git checkout every few minutes) stopped or lags. Every node that
parses or runs DAGs holds its own copy of the DAG folder (:func:`testbed.services.airflow.
dag_files`), so one copy can differ: ``stale_from`` puts an older version of the file there;
without it the file is gone from that node. The heal puts back the node's own copy as it was.

The file's cached bytecode is removed with it, so the node's next parse reads the new source.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbed import airflow_config as AC
from testbed import runtime
from testbed.core.errors import FaultError
from testbed.faults.base import Fault

if TYPE_CHECKING:
    from testbed.cluster import Cluster


class DagDrift(Fault):
    kind = "dag_drift"

    def __init__(
        self, cluster: Cluster, target: str, file: str, stale_from: str | None = None, **kw
    ) -> None:
        super().__init__(cluster, target, **kw)
        self.file, self.stale_from = file, stale_from
        self._saved: bytes | None = None

    def describe(self) -> dict[str, Any]:
        held = f"the version in {Path(self.stale_from).name}" if self.stale_from else "missing"
        return {"file": self.file, "held_at": held}

    @property
    def path(self) -> str:
        return f"{AC.DAGS_FOLDER}/{self.file}"

    def _current(self) -> bytes:
        """The node's own copy now (what the heal puts back: the version the cluster booted
        with, even if the DAG folder on the host was edited since)."""
        r = self.container.exec_run(["cat", self.path])
        if r.exit_code != 0:
            raise FaultError(f"dag_drift: {self.target} holds no {self.file} to drift")
        return r.output

    def _forget_bytecode(self) -> None:
        stem = Path(self.file).stem
        folder = Path(self.path).parent
        cmd = ["sh", "-c", f"rm -f {shlex.quote(f'{folder}/__pycache__/{stem}')}.*.pyc"]
        self.container.exec_run(cmd, user="root")

    def _inject(self) -> None:
        self._saved = self._current()  # a file the node never got is an error, not a drift
        if self.stale_from:
            data = Path(self.stale_from).read_bytes()
            runtime.put_files(self.container, {self.path: (data, 0o644)})
        else:
            self.container.exec_run(["rm", "-f", self.path], user="root")
        self._forget_bytecode()

    def _heal(self) -> None:
        if self._saved is not None:
            runtime.put_files(self.container, {self.path: (self._saved, 0o644)})
        self._forget_bytecode()
