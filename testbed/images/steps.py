"""The low-level steps the image builds share: whether an image exists, a host command, a
``docker build`` of a prepared context. Used by :mod:`testbed.images.build` (the testbed
images), :mod:`testbed.images.extra` (a user's extra packages) and :mod:`testbed.images.k8s_node`
(the Kubernetes node), which therefore need not import one another."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import docker.errors

from testbed.core import labels as L
from testbed.core import progress
from testbed.core.errors import ImageBuildError
from testbed.images.catalog import ImageRef
from testbed.runtime import client

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in a build's output


def exists_name(name: str) -> bool:
    try:
        client().images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def run(cmd: list[str], what: str, update, env: dict | None = None) -> None:
    """Run a host command, showing its latest output line; raise with its tail on failure."""
    tail: list[str] = []
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        update(line.strip())
    if proc.wait() != 0:
        progress.plain("\n".join(tail))
        raise ImageBuildError(what, f"`{' '.join(cmd[:3])} …` exited {proc.returncode}", tail=tail)


def stream_build(
    ctx: Path,
    ref: ImageRef,
    args: dict,
    update,
    verbose: bool = False,
    labels: dict | None = None,
    dockerfile: str = "Dockerfile",
) -> None:
    """``docker build`` a prepared context, showing the latest output line; a failure raises
    :class:`ImageBuildError` with the last lines of the output."""
    tail: list[str] = []
    stream = client().api.build(
        path=str(ctx),
        dockerfile=dockerfile,
        tag=ref.name,
        buildargs=args,
        network_mode="host",
        rm=True,
        forcerm=True,
        decode=True,
        labels={L.KIND: ref.kind, **(labels or {})},
        pull=False,
    )
    for chunk in stream:
        if "error" in chunk:
            progress.plain("\n".join(tail))
            raise ImageBuildError(ref.name, chunk["error"].strip(), tail=tail)
        for line in _ANSI.sub("", chunk.get("stream", "")).splitlines():
            if line.strip():
                tail = (tail + [line.strip()])[-20:]
                update(line.strip())
                if verbose:
                    progress.plain(line)
