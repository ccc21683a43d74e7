"""The `testbed` command: a thin shell over the library (clusters, images, drills).

Errors the testbed raises on purpose print as one actionable line (exit 2); Ctrl-C and SIGTERM
tear down what the command booted (exit 130).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from testbed import labels as L
from testbed import paths, progress, runs, runtime
from testbed.airflow_config import parse_overrides
from testbed.chaos.cli import chaos as chaos_command
from testbed.errors import ClusterError, TestbedError
from testbed.images import catalog
from testbed.soak.cli import soak as soak_command
from testbed.topology import Topology

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0])
images_app = typer.Typer(no_args_is_help=True, help="Build, list and prune the testbed images.")
app.add_typer(images_app, name="images")
console = progress.console


def running_runs() -> dict[str, list]:
    runs: dict[str, list] = {}
    for c in runtime.run_objects()[0]:
        runs.setdefault(c.labels.get(L.RUN, "?"), []).append(c)
    return runs


def pick_run(run_id: str | None) -> str:
    if run_id:
        return run_id
    runs = sorted(running_runs())
    if len(runs) != 1:
        raise ClusterError(
            "no testbed cluster is running"
            if not runs
            else f"{len(runs)} clusters are running ({', '.join(runs)}); name one with --run"
        )
    return runs[0]


def status_table(run_id: str) -> Table:
    table = Table(title=f"run {run_id}", title_justify="left")
    for col in ("node", "role", "state", "host ports (127.0.0.1)"):
        table.add_column(col)
    containers = runtime.run_objects(run_id)[0]
    for c in sorted(containers, key=lambda c: c.name):
        ports = c.attrs["NetworkSettings"]["Ports"] or {}
        published = ", ".join(
            f"{b[0]['HostPort']}->{p.split('/')[0]}" for p, b in ports.items() if b
        )
        table.add_row(
            c.labels.get(L.NODE, c.name), c.labels.get(L.ROLE, "?"), runtime.state(c), published
        )
    return table


def print_cluster(cluster) -> None:
    console.print(status_table(cluster.run_id))
    for name, url in cluster.urls().items():
        console.print(f"  {name:17} {url}")
    console.print(
        f"  {'login':17} admin / password in {cluster.dir / 'secrets' / 'admin_password'}"
    )
    console.print(f"  {'run record':17} {cluster.dir}")


@app.command()
def up(
    workers: int = typer.Option(2, help="Celery workers (each its own node)."),
    airflow_version: str = typer.Option(catalog.DEFAULT_AIRFLOW_VERSION, help="Airflow version."),
    set_: list[str] = typer.Option([], "--set", help="Airflow config override SECTION.KEY=VALUE."),
    snapshot: bool = typer.Option(True, help="Start from a migrated database snapshot if any."),
    build: bool = typer.Option(True, help="Build missing images first."),
    kerberos: bool = typer.Option(
        False, help="Add a KDC, a ticket-refresher sidecar per worker and a kerberized Postgres."
    ),
    dags: Path | None = typer.Option(None, help="Your DAG folder (instead of the testbed's)."),
    requirements: Path | None = typer.Option(
        None, help="A requirements file of extra packages (installed into a derived image)."
    ),
    timescale: float = typer.Option(
        1.0, help="Compressed time: every Airflow timer a drill depends on times this (0.2-1)."
    ),
    api_servers: int = typer.Option(
        1, help="api-servers (1-3), all answering to the name api-server on the run network."
    ),
    kubernetes: bool = typer.Option(
        False,
        "--kubernetes",
        help="The Airflow roles as pods of a Kubernetes node (KubernetesExecutor); "
        "`docker exec -it <run>-k8s-node kubectl get pods` to look inside.",
    ),
    k8s_nodes: int = typer.Option(
        1, help="With --kubernetes: nodes (1-3); beyond the first they run the task pods."
    ),
) -> None:
    """Boot a cluster and leave it running; prints a status table and URLs."""
    from testbed.cluster import Cluster
    from testbed.images import build as image_build
    from testbed.scenario.own import requirement_lines

    if dags is not None and not dags.is_dir():
        raise TestbedError(f"--dags: {dags} is not a folder")
    reqs = tuple(requirement_lines(requirements, "--requirements")) if requirements else ()
    topology = Topology(
        workers,
        airflow_version,
        parse_overrides(set_),
        kerberos=kerberos,
        dags=str(dags.resolve()) if dags else None,
        requirements=reqs,
        timescale=timescale,
        api_servers=api_servers,
        backend="kubernetes" if kubernetes else "docker",
        executor="KubernetesExecutor" if kubernetes else "CeleryExecutor",
        k8s_nodes=k8s_nodes,
    )
    if build:
        image_build.ensure((airflow_version,))
        image_build.ensure_extra((airflow_version,), topology.image_requirements)
        if kubernetes:  # the node (the Airflow image with the provider is built just above)
            image_build.ensure_kubernetes(())
    cluster = Cluster(topology, detached=True, use_snapshot=snapshot)
    extra = ", Kerberos" if kerberos else ""
    what = "Kubernetes, KubernetesExecutor" if kubernetes else f"{workers} workers"
    progress.step(f"booting run {cluster.run_id} ({what}, Airflow {airflow_version}{extra})")
    cluster.up()
    progress.console.print(f"[green]all green[/] in {cluster.timings['total']:.1f}s")
    print_cluster(cluster)


@app.command()
def status(
    run: str | None = typer.Option(None, help="Run id (default: every running one)."),
) -> None:
    """Show the running clusters: nodes, roles, states, published ports."""
    runs = [run] if run else sorted(running_runs())
    if not runs:
        console.print("no testbed cluster is running")
    for run_id in runs:
        console.print(status_table(run_id))


@app.command()
def down(
    run: str | None = typer.Option(None, help="Run id (default: the only running one)."),
    all_: bool = typer.Option(False, "--all", help="Every testbed run."),
) -> None:
    """Remove a cluster: every container, network and volume carrying its run label."""
    from testbed.cluster import Cluster

    for run_id in sorted(running_runs()) if all_ else [pick_run(run)]:
        record = paths.run_dir(run_id) / "run.json"
        failed = Cluster.attach(run_id).down() if record.exists() else runtime.remove_run(run_id)
        _report_removal(run_id, failed)


def _report_removal(run_id: str, failed: list[str]) -> None:
    if failed:
        raise ClusterError(f"run {run_id}: could not remove {'; '.join(failed)}")
    progress.step(f"removed run {run_id}")


@app.command()
def gc(
    all_: bool = typer.Option(False, "--all", help="Also runs still owned or detached."),
) -> None:
    """Remove what dead runs left behind (runs whose owner process is gone)."""
    runs, failed = runtime.gc(everything=all_)
    if failed:
        raise ClusterError(f"gc could not remove {'; '.join(failed)}")
    console.print(f"removed {len(runs)} run(s): {', '.join(sorted(runs)) or '-'}")


@app.command()
def logs(node: str, run: str | None = typer.Option(None), tail: int = typer.Option(100)) -> None:
    """Print a node's container log."""
    run_id = pick_run(run)
    for c in runtime.run_objects(run_id)[0]:
        if c.labels.get(L.NODE) == node:
            sys.stdout.write("\n".join(runtime.logs_tail(c, tail)) + "\n")
            return
    raise ClusterError(f"no node {node!r} in run {run_id}")


@app.command()
def diagnose(
    node: str = typer.Argument(..., help="The node to look at, e.g. scheduler or worker-1."),
    run: str | None = typer.Option(None, help="Run id (default: the only running one)."),
    out: Path | None = typer.Option(None, help="Folder to write into (default: the run record)."),
    timeout: float = typer.Option(20, help="Bound of the whole capture, in seconds."),
) -> None:
    """Capture hang diagnostics of a node: Python stacks (py-spy), database sessions and
    locks, Celery's active and reserved tasks, the node's last log lines."""
    from testbed.cluster import Cluster
    from testbed.diagnose import capture

    cluster = Cluster.attach(pick_run(run))
    cluster.container(node)  # an unknown node is an error before anything is captured
    folder = out or cluster.dir
    summary = capture(cluster, node, "testbed diagnose (by hand)", folder, timeout=timeout)
    for part, status in summary["parts"].items():
        color = "green" if status == "ok" else "yellow"
        console.print(f"  {part:16} [{color}]{status}[/]", highlight=False)
    console.print(
        f"diagnostics of {node} ({summary['state']}) in {summary['took_seconds']:.1f}s: "
        f"{Path(folder) / summary['path']}"
    )


@app.command()
def smoke(
    run: str | None = typer.Option(None, help="Run id (default: the only running one)."),
) -> None:
    """Run the smoke drill against a running cluster."""
    from testbed.cluster import Cluster
    from testbed.smoke import run_smoke

    result = run_smoke(Cluster.attach(pick_run(run)))
    _print_smoke(result)
    raise typer.Exit(0 if result.ok else 1)


def _print_smoke(result) -> None:
    mark = "[green]PASS[/]" if result.ok else "[red]FAIL[/]"
    console.print(
        f"{mark} smoke: run {result.run_id} {result.state} on {result.worker}; "
        f"log in MinIO: {result.log_in_s3}; served by API: {result.api_log_has_marker}"
    )


DEMO_DRILL = "scenarios/scheduler_db_stall.yaml"


@app.command()
def demo(
    drill: Path = typer.Option(
        Path(DEMO_DRILL), help="The drill to run after the smoke drill (a scenario file)."
    ),
    keep: bool = typer.Option(False, help="Leave the cluster up."),
) -> None:
    """Build missing images, boot a cluster, run the smoke drill and a real fault drill (by
    default the blackholed scheduler->Postgres link, with its hang diagnostics), tear down,
    and print where the drill's report is."""
    from testbed.cluster import Cluster
    from testbed.images import build as image_build
    from testbed.interrupts import deferred
    from testbed.scenario import load
    from testbed.scenario.execute import execute
    from testbed.smoke import run_smoke

    t0 = time.monotonic()
    scenario = load(paths.project_root() / drill if not drill.is_absolute() else drill)
    image_build.ensure_scenarios([scenario])
    cluster = Cluster(scenario.topology.build())
    progress.step(f"booting run {cluster.run_id}")
    cluster.up()
    try:
        result = run_smoke(cluster)
        _print_smoke(result)
        progress.step(f"drill {scenario.name}: {' '.join(scenario.description.split())[:200]}")
        verdict, folder = execute(
            scenario, cluster, on_step=lambda i, text: progress.step(f"  {i:2}. {escape(text)}")
        )
    finally:
        if not keep:
            with deferred("removing the demo cluster; this finishes in a few seconds"):
                failed = cluster.down(reason="demo done")
            if failed:
                progress.warn(f"teardown left: {'; '.join(failed)}")
    runs.print_verdict(verdict, folder)
    console.print(f"run record: {cluster.dir}  (history.jsonl, smoke.json, run.json, logs/)")
    progress.plain(f"drill report: {folder / 'report.html'}")
    console.print(f"demo took {time.monotonic() - t0:.0f}s")
    raise typer.Exit(0 if result.ok and verdict.ok else 1)


@app.command()
def compose(
    out: str = typer.Option("compose/celery", help="Folder to write docker-compose.yml into."),
    workers: int = typer.Option(2),
    airflow_version: str = typer.Option(catalog.DEFAULT_AIRFLOW_VERSION),
    set_: list[str] = typer.Option([], "--set", help="Airflow config override SECTION.KEY=VALUE."),
    kerberos: bool = typer.Option(
        False, help="Add a KDC, a ticket-refresher sidecar per worker and a kerberized Postgres."
    ),
    api_servers: int = typer.Option(1, min=1, max=3, help="api-servers (one name on the network)."),
    timescale: float = typer.Option(1.0, help="Compressed time: every drill timer scaled (0.2-1)."),
) -> None:
    """Render a runnable Compose project of the same topology (for reproducing by hand)."""
    from pathlib import Path

    from testbed.compose import render

    overrides = parse_overrides(set_)
    topology = Topology(
        workers,
        airflow_version,
        overrides,
        kerberos=kerberos,
        api_servers=api_servers,
        timescale=timescale,
    )
    path = render(topology, Path(out))
    console.print(f"wrote {path}; run it with: docker-compose -f {path} up -d")


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="Scenario files (.yaml or .py)."),
) -> None:
    """Validate scenario files (schema, names, DAGs, nodes, links); nothing boots."""
    from testbed.scenario import load

    for file in files:
        s = load(file)
        console.print(f"[green]ok[/] {escape(str(file))}: scenario {s.name}, {len(s.steps)} steps")


@app.command()
def run(
    files: list[Path] = typer.Argument(..., help="Scenario files (.yaml or .py), run in order."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; boot nothing."),
    keep: bool = typer.Option(False, help="Leave the cluster running afterwards."),
    junit: Path | None = typer.Option(
        None, help="Also write JUnit XML here (a testcase per expectation)."
    ),
    boot_ahead: bool = typer.Option(
        True,
        help="While a scenario runs, boot the next one's cluster (at a low CPU weight) when "
        "a reset will not serve it: another topology, or after an upgrade.",
    ),
    clusters: int = typer.Option(
        1,
        min=1,
        max=4,
        help="Run the scenarios on this many clusters side by side (a worker process each; a "
        "free one takes the next scenario). README 'Compressed time' says when this helps.",
    ),
) -> None:
    """Run scenarios on a real cluster (one boot, reset between scenarios of one topology).

    Each scenario's record folder gets history.jsonl, verdict.json and report.html (a timeline a
    person can read). Exit 0 only if every expectation held and every fault healed; 1 if an
    expectation failed or a step could not be carried out; 3 if the expectations held but the
    heal audit found something left broken."""
    from testbed.scenario import load
    from testbed.scenario.plan import plan

    scenarios = [load(f) for f in files]  # every file is validated before anything boots
    if dry_run:
        for s in scenarios:
            progress.plain("\n".join(plan(s)))
        return
    if clusters > 1:
        if keep:
            raise TestbedError("--keep needs --clusters 1", hint="keep one cluster, or none")
        raise typer.Exit(runs.run_parallel(scenarios, clusters, junit))
    raise typer.Exit(runs.run_all(scenarios, keep, junit, boot_ahead=boot_ahead))


@app.command()
def report(
    path: Path = typer.Argument(..., help="A scenario record folder, or a run folder."),
) -> None:
    """Write the HTML report of a record (every scenario of a run folder); print its path."""
    from testbed.report import write_html

    folders = [path] if (path / "history.jsonl").exists() else []
    if (path / "scenarios").is_dir():
        folders = sorted(
            p for p in (path / "scenarios").iterdir() if (p / "history.jsonl").exists()
        )
    if not folders:
        raise TestbedError(
            f"{path}: no history.jsonl here or under {path / 'scenarios'}",
            hint="give a scenario record folder (.testbed/runs/RUN/scenarios/NAME-N) or a run",
        )
    for folder in folders:
        progress.plain(f"report: {write_html(folder)}")


@app.command("upgrade-plan")
def upgrade_plan(
    from_version: str = typer.Argument(..., metavar="FROM", help="Airflow version running now."),
    to_version: str = typer.Argument(..., metavar="TO", help="Airflow version to go to."),
    workers: int = typer.Option(2, help="Celery workers of the topology the steps name."),
    wheel: bool = typer.Option(
        True,
        "--wheel/--image-only",
        help="For a version whose image is not built, read the schema head from its "
        "apache-airflow-core wheel (needs the package index).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON on stdout."),
    rollback: str = typer.Option(
        "restore",
        help="A downgrade across a schema change: 'restore' the backup taken before the "
        "upgrade, or 'downgrade' the schema with `airflow db downgrade`.",
    ),
) -> None:
    """Whether the guide allows a live (rolling) upgrade FROM -> TO, and its steps in order."""
    import json

    from testbed.upgrade import versions
    from testbed.upgrade.plan import plan_between

    def read(version: str) -> versions.SchemaInfo:
        return versions.schema_info(version, allow_wheel=wheel)

    nodes = Topology(workers).airflow_nodes
    if rollback not in ("restore", "downgrade"):
        raise typer.BadParameter(
            f"{rollback!r}; allowed: restore, downgrade", param_hint="--rollback"
        )
    plan, a, b = plan_between(from_version, to_version, read, nodes=nodes, rollback=rollback)  # type: ignore[arg-type]
    if as_json:
        sources = {i.version: i.source for i in (a, b)}
        sys.stdout.write(json.dumps({**plan.to_json(), "sources": sources}, indent=1) + "\n")
        return
    lines = plan.lines()
    read_from = [a] if a.version == b.version else [a, b]
    lines[1:1] = [
        f"  schema head of {i.version}: {i.head} (from the {i.source})" for i in read_from
    ]
    progress.plain("\n".join(lines))


@images_app.command("build")
def images_build(
    airflow_version: list[str] = typer.Option(
        [catalog.DEFAULT_AIRFLOW_VERSION], help=f"One of {', '.join(catalog.AIRFLOW_VERSIONS)}."
    ),
    verbose: bool = typer.Option(False, "-v", help="Show every build line."),
    kubernetes: bool = typer.Option(
        False,
        "--kubernetes",
        help="Also the Kubernetes node (built from the Go module proxy) and the first "
        "version's Airflow image with the KubernetesExecutor (backend: kubernetes).",
    ),
) -> None:
    """Build the images that are missing (a no-op when every input is unchanged)."""
    from testbed.images import build as image_build

    refs = image_build.ensure(tuple(airflow_version), verbose=verbose)
    if kubernetes:
        from testbed.k8s.image import node_image, unavailable

        why = unavailable()
        if why:  # the Docker backend's images are built; the Kubernetes drills will be skipped
            console.print(f"skipped  {node_image()}: {why}")
        else:
            refs += image_build.ensure_kubernetes(tuple(airflow_version[:1]))
    for ref, what in refs:
        console.print(f"{what:8} {ref.name}")


@images_app.command("list")
def images_list() -> None:
    """List the testbed's images (built and snapshots)."""
    from testbed.images import build as image_build

    for img in image_build.testbed_images():
        size = img.attrs.get("Size", 0) / 1e6
        console.print(f"{', '.join(img.tags) or img.short_id:55} {size:8.0f} MB")


@images_app.command("prune")
def images_prune(
    all_: bool = typer.Option(False, "--all", help="Also the current images."),
) -> None:
    """Remove testbed images that no current input hash names (or all of them)."""
    from testbed.images import build as image_build

    removed = image_build.prune(keep_current=not all_)
    console.print(
        f"removed {len(removed)} image(s)" + (": " + ", ".join(removed) if removed else "")
    )


app.command()(chaos_command)  # testbed/chaos/cli.py
app.command()(soak_command)  # testbed/soak/cli.py


def _sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        app()
    except TestbedError as exc:
        console.print(f"[red]error:[/] {escape(exc.one_line())}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: what this command started has been removed")
        sys.exit(130)
