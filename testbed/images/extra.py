"""A user's extra Python packages, installed into an image derived from a testbed Airflow image.

The extra packages come from the package index like the Airflow lock (uv, the host's network,
the CA bundle only while installing) and are installed with every pin of the Airflow lock (and
the tools lock) as a constraint: an extra package may add dependencies but never move one of
Airflow's, and a requirement that would is refused by the resolver, with its explanation.
A package that needs a program from Debian to work (``catalog.SYSTEM_PACKAGES``: the git
provider runs the ``git`` program) brings that Debian package into the image too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from testbed.core import labels as L
from testbed.core import progress
from testbed.core.errors import ImageBuildError
from testbed.images import catalog
from testbed.images.catalog import ImageRef
from testbed.images.steps import stream_build

DOCKERFILE = """\
ARG PARENT
FROM ${PARENT}
USER root
ARG APT=""
RUN if [ -n "$APT" ]; then apt-get update -q \\
    && apt-get install -y -q --no-install-recommends $APT && rm -rf /var/lib/apt/lists/*; fi
COPY requirements.txt constraints.txt ca-bundle.crt /tmp/extra/
RUN SSL_CERT_FILE=/tmp/extra/ca-bundle.crt UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 \\
    uv pip install --python /opt/airflow/bin/python \\
    -r /tmp/extra/requirements.txt -c /tmp/extra/constraints.txt \\
 && cp /tmp/extra/requirements.txt /opt/extra-requirements.txt && rm -rf /tmp/extra
USER airflow
"""


def constraints(version: str) -> str:
    """Every pin of the Airflow and tools locks, as ``name==version`` lines."""
    pins = {**catalog.lock_pins(version), **catalog.tools_pins()}
    return "".join(f"{name}=={v}\n" for name, v in sorted(pins.items()))


def write_context(folder: Path, version: str, requirements: tuple[str, ...], ca: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "requirements.txt").write_text("".join(f"{r}\n" for r in sorted(requirements)))
    (folder / "constraints.txt").write_text(constraints(version))
    (folder / "ca-bundle.crt").write_bytes(ca)


def build(ref: ImageRef, version: str, requirements: tuple[str, ...], ca: bytes) -> None:
    """``docker build`` the derived image; a resolver refusal is one error naming the cause."""
    parent = catalog.airflow_ref(version).name
    with tempfile.TemporaryDirectory() as tmp, progress.status(f"building {ref.name}") as update:
        write_context(Path(tmp), version, requirements, ca)
        try:
            args = {"PARENT": parent, "APT": " ".join(catalog.system_packages(requirements))}
            stream_build(Path(tmp), ref, args, update, labels={L.PARENT: parent})
        except ImageBuildError as exc:
            why = f"installing {', '.join(requirements)} on Airflow {version}: "
            raise ImageBuildError(ref.name, why + _cause(exc.tail), tail=exc.tail) from None


def _cause(tail: list[str]) -> str:
    """The resolver's own explanation (uv prints it after ``×``), else the last line."""
    why = [
        line.removeprefix("cause: ")
        for line in tail
        if line.startswith(("×", "╰─▶", "error:", "cause:", "Because", "And because"))
    ]
    return " ".join(why)[:600] if why else (tail[-1] if tail else "the build failed")
