"""``testbed images``: build, list and prune the testbed images (a sub-app of
:mod:`testbed.cli`)."""

from __future__ import annotations

import typer

from testbed.core import progress
from testbed.images import catalog

images_app = typer.Typer(
    no_args_is_help=True,
    help="Build, list and prune the testbed images.\n\n"
    "Example: `testbed images build`, then `testbed images list`.",
)
console = progress.results  # results on stdout; progress on stderr


@images_app.command("build")
def images_build(
    airflow_version: list[str] = typer.Option(
        [catalog.DEFAULT_AIRFLOW_VERSION],
        help=f"One of {', '.join(catalog.IMAGE_VERSIONS)} (an Airflow 2 image on Debian "
        "bookworm's Python 3.11: the start of a 2 -> 3 upgrade).",
    ),
    verbose: bool = typer.Option(False, "-v", help="Show every build line."),
    kubernetes: bool = typer.Option(
        False,
        "--kubernetes",
        help="Also the Kubernetes node (built from the Go module proxy) and the first "
        "version's Airflow image with the KubernetesExecutor (backend: kubernetes).",
    ),
) -> None:
    """Build the images that are missing (a no-op when every input is unchanged).

    Example: `testbed images build`, or `testbed images build --airflow-version 3.3.1 -v`."""
    from testbed.images import build as image_build

    refs = image_build.ensure(tuple(airflow_version), verbose=verbose)
    if kubernetes:
        from testbed.images.k8s_node import node_image, unavailable

        why = unavailable()
        if why:  # the Docker backend's images are built; the Kubernetes drills will be skipped
            console.print(f"skipped  {node_image()}: {why}")
        else:
            refs += image_build.ensure_kubernetes(tuple(airflow_version[:1]))
    for ref, what in refs:
        console.print(f"{what:8} {ref.name}")


@images_app.command("list")
def images_list() -> None:
    """List the testbed's images (built and snapshots).

    Example: `testbed images list`."""
    from testbed.images import build as image_build

    for img in image_build.testbed_images():
        size = img.attrs.get("Size", 0) / 1e6
        console.print(f"{', '.join(img.tags) or img.short_id:55} {size:8.0f} MB")


@images_app.command("prune")
def images_prune(
    all_: bool = typer.Option(False, "--all", help="Also the current images."),
) -> None:
    """Remove testbed images that no current input hash names (or all of them).

    Example: `testbed images prune`, or `testbed images prune --all`."""
    from testbed.images import build as image_build

    removed = image_build.prune(keep_current=not all_)
    console.print(
        f"removed {len(removed)} image(s)" + (": " + ", ".join(removed) if removed else "")
    )
