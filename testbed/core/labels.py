"""Labels that mark every Docker object a run creates, and run ids.

Every container, network and volume carries ``io.testbed.run`` (the run id) and
``io.testbed.pid`` (the process that owns it). ``testbed down`` removes one run's objects;
``testbed gc`` removes those whose owner process is gone (unless the run was started detached
by ``testbed up``), so a crashed or killed run is cleaned up by the next one.
"""

from __future__ import annotations

import os
import secrets
import socket
import time

RUN = "io.testbed.run"
PID = "io.testbed.pid"
HOST = "io.testbed.host"
ROLE = "io.testbed.role"
NODE = "io.testbed.node"
DETACHED = "io.testbed.detached"
KIND = "io.testbed.kind"  # image kind, on images the testbed builds
# a command the container runs before it is removed (what the run made outside Docker: the
# objects in an existing Kubernetes cluster's namespace)
CLEANUP = "io.testbed.cleanup"
PARENT = "io.testbed.parent"  # on a derived image (a user's extra packages): the image it extends


def new_run_id(prefix: str = "tb") -> str:
    """A short, sortable, unique run id; includes the xdist worker when there is one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    stamp = time.strftime("%m%d%H%M%S")
    tail = secrets.token_hex(3)  # 2 bytes collided for 50 ids in one second (1 in 50 runs)
    return f"{prefix}{stamp}{worker}{tail}"


def run_labels(run_id: str, *, detached: bool = False) -> dict[str, str]:
    return {
        RUN: run_id,
        PID: str(os.getpid()),
        HOST: socket.gethostname(),
        DETACHED: "1" if detached else "0",
    }


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process that created an object still runs (or the run is detached)."""
    if labels.get(DETACHED) == "1":
        return True
    if labels.get(HOST) != socket.gethostname():
        return True  # not ours to judge
    try:
        pid = int(labels.get(PID, "0"))
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
