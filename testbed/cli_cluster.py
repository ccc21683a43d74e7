"""``testbed up``, ``status``, ``down``, ``gc``, ``logs``, ``diagnose``, ``audit`` and ``smoke``:
the commands that boot, show, look into and remove clusters (registered on the one app by
:mod:`testbed.cli`), and the helpers they share (which run, its status table)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from testbed import runtime
from testbed.airflow_config import parse_overrides
from testbed.core import labels as L
from testbed.core import paths, progress
from testbed.core.errors import ClusterError, TestbedError
from testbed.images import catalog
from testbed.topology import Topology, runs_celery

console = progress.results  # results on stdout; progress on stderr
ONLY_RUN = "the only running one"  # --run's default where one cluster is meant


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


def status_rows(run_id: str) -> list[dict]:
    """One run's nodes: name, role, state, the ports published on 127.0.0.1 (host -> node)."""
    rows = []
    for c in sorted(runtime.run_objects(run_id)[0], key=lambda c: c.name):
        ports = c.attrs["NetworkSettings"]["Ports"] or {}
        published = {p.split("/")[0]: int(b[0]["HostPort"]) for p, b in ports.items() if b}
        node, role = c.labels.get(L.NODE, c.name), c.labels.get(L.ROLE, "?")
        rows.append({"node": node, "role": role, "state": runtime.state(c), "ports": published})
    return rows


def status_table(run_id: str) -> Table:
    table = Table(title=f"run {run_id}", title_justify="left")
    for col in ("node", "role", "state", "host ports (127.0.0.1)"):
        table.add_column(col)
    for row in status_rows(run_id):
        published = ", ".join(f"{host}->{port}" for port, host in row["ports"].items())
        table.add_row(row["node"], row["role"], row["state"], published)
    return table


def print_cluster(cluster) -> None:
    console.print(status_table(cluster.run_id))
    for name, url in cluster.urls().items():
        console.print(f"  {name:17} {url}")
    console.print(
        f"  {'login':17} admin / password in {cluster.dir / 'secrets' / 'admin_password'}"
    )
    console.print(f"  {'run record':17} {cluster.dir}")


def check_workers(workers: int, executor: str) -> None:
    """``--workers`` means Celery workers: refused with another executor (not ignored)."""
    if workers != 2 and not runs_celery(executor):
        raise typer.BadParameter(
            f"the {executor} runs no Celery workers; leave --workers out", param_hint="--workers"
        )


# an existing Kubernetes cluster (`testbed up`, `testbed run`): testbed.k8s.client
KUBECONFIG_OPTION = typer.Option(
    None,
    help="An existing Kubernetes cluster (scenarios of backend: kubernetes): everything is "
    "deployed into --namespace there, the images pulled from --registry.",
)
REGISTRY_OPTION = typer.Option(
    None, help="With --kubeconfig: HOST:PORT of the registry the cluster pulls from."
)
NAMESPACE_OPTION = typer.Option("default", help="With --kubeconfig: the run's namespace.")


def existing_target(kubeconfig: Path | None, registry: str | None, namespace: str) -> dict | None:
    """The topology keys of an existing cluster (None without ``--kubeconfig``)."""
    if kubeconfig is None:
        if registry:
            raise TestbedError("--registry: only with --kubeconfig (an existing cluster)")
        return None
    if not kubeconfig.is_file():
        raise TestbedError(f"--kubeconfig: {kubeconfig} is not a file")
    from testbed.k8s.client import flatten

    flatten(kubeconfig)  # a file that is no kubeconfig is said before anything boots
    return {"kubeconfig": str(kubeconfig.resolve()), "registry": registry, "namespace": namespace}


def up(
    workers: int = typer.Option(2, help="Celery workers (each its own node)."),
    airflow_version: str = typer.Option(catalog.DEFAULT_AIRFLOW_VERSION, help="Airflow version."),
    set_: list[str] = typer.Option([], "--set", help="Airflow config override SECTION.KEY=VALUE."),
    snapshot: bool = typer.Option(True, help="Start from a migrated database snapshot if any."),
    build: bool = typer.Option(True, help="Build missing images first."),
    kerberos: bool = typer.Option(
        False, help="Add a KDC, a ticket-refresher sidecar per worker and a kerberized Postgres."
    ),
    dags: Path | None = typer.Option(
        None, help="Your DAG folder.", show_default="the testbed's own DAGs"
    ),
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
        help="The Airflow roles as pods of a Kubernetes node (the KubernetesExecutor unless "
        "--executor says CeleryExecutor); "
        "`docker exec -it <run>-k8s-node kubectl get pods` to look inside.",
    ),
    k8s_nodes: int = typer.Option(
        1, help="With --kubernetes: nodes (1-3); beyond the first they run the task pods."
    ),
    executor: str | None = typer.Option(
        None,
        help="On Docker: CeleryExecutor, or LocalExecutor (tasks run under the scheduler; no "
        "broker, no workers). With --kubernetes: KubernetesExecutor, CeleryExecutor (a "
        "worker pod per --workers), or both: CeleryExecutor,KubernetesExecutor.",
        show_default="CeleryExecutor; KubernetesExecutor with --kubernetes",
    ),
    kubeconfig: Path | None = KUBECONFIG_OPTION,
    registry: str | None = REGISTRY_OPTION,
    namespace: str = NAMESPACE_OPTION,
) -> None:
    """Boot a cluster and leave it running; prints a status table and URLs.

    Example: `testbed up --workers 3 --airflow-version 3.3.1`, then `testbed status`."""
    from testbed.cluster import Cluster
    from testbed.images import build as image_build
    from testbed.scenario.own import requirement_lines

    if dags is not None and not dags.is_dir():
        raise TestbedError(f"--dags: {dags} is not a folder")
    reqs = tuple(requirement_lines(requirements, "--requirements")) if requirements else ()
    target = existing_target(kubeconfig, registry, namespace) or {}
    kubernetes = kubernetes or bool(target)
    executor = executor or ("KubernetesExecutor" if kubernetes else "CeleryExecutor")
    check_workers(workers, executor)
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
        executor=executor,
        k8s_nodes=k8s_nodes,
        **target,
    )
    if build:
        image_build.ensure((airflow_version,))
        image_build.ensure_extra((airflow_version,), topology.image_requirements)
        if kubernetes:  # the node (the Airflow image with the provider is built just above)
            image_build.ensure_kubernetes(())
    cluster = Cluster(topology, detached=True, use_snapshot=snapshot)
    extra = ", Kerberos" if kerberos else ""
    what = f"{workers} workers" if topology.celery else executor
    what = "LocalExecutor, tasks under the scheduler" if topology.local else what
    what = f"Kubernetes, {what}" if kubernetes else what
    progress.step(f"booting run {cluster.run_id} ({what}, Airflow {airflow_version}{extra})")
    cluster.up()
    progress.console.print(f"[green]all green[/] in {cluster.timings['total']:.1f}s")
    print_cluster(cluster)


def status(
    run: str | None = typer.Option(None, help="Run id.", show_default="every running one"),
    as_json: bool = typer.Option(
        False, "--json", help="As JSON on stdout: each run id and its nodes."
    ),
) -> None:
    """Show the running clusters: nodes, roles, states, published ports.

    Example: `testbed status`, or `testbed status --json`."""
    runs = [run] if run else sorted(running_runs())
    if as_json:
        progress.result(json.dumps({r: status_rows(r) for r in runs}, indent=1))
        return
    if not runs:
        console.print("no testbed cluster is running")
    for run_id in runs:
        console.print(status_table(run_id))


def down(
    run: str | None = typer.Option(None, help="Run id.", show_default=ONLY_RUN),
    all_: bool = typer.Option(False, "--all", help="Every testbed run."),
) -> None:
    """Remove a cluster: every container, network and volume carrying its run label.

    Example: `testbed down`, or `testbed down --run RUN` (an id `testbed status` shows)."""
    from testbed.cluster import Cluster

    for run_id in sorted(running_runs()) if all_ else [pick_run(run)]:
        record = paths.run_dir(run_id) / "run.json"
        failed = Cluster.attach(run_id).down() if record.exists() else runtime.remove_run(run_id)
        _report_removal(run_id, failed)


def _report_removal(run_id: str, failed: list[str]) -> None:
    if failed:
        raise ClusterError(f"run {run_id}: could not remove {'; '.join(failed)}")
    progress.step(f"removed run {run_id}")


def gc(
    all_: bool = typer.Option(False, "--all", help="Also runs still owned or detached."),
) -> None:
    """Remove what dead runs left behind (runs whose owner process is gone).

    Example: `testbed gc`, or `testbed gc --all`."""
    runs, failed = runtime.gc(everything=all_)
    if failed:
        raise ClusterError(f"gc could not remove {'; '.join(failed)}")
    console.print(f"removed {len(runs)} run(s): {', '.join(sorted(runs)) or '-'}")


def logs(
    node: str = typer.Argument(..., help="The node, e.g. scheduler or worker-1."),
    run: str | None = typer.Option(None, help="Run id.", show_default=ONLY_RUN),
    tail: int = typer.Option(100, help="How many of the last lines to print."),
) -> None:
    """Print a node's container log.

    Example: `testbed logs scheduler`, or `testbed logs worker-1 --tail 500`."""
    run_id = pick_run(run)
    for c in runtime.run_objects(run_id)[0]:
        if c.labels.get(L.NODE) == node:
            sys.stdout.write("\n".join(runtime.logs_tail(c, tail)) + "\n")
            return
    raise ClusterError(f"no node {node!r} in run {run_id}")


def diagnose(
    node: str = typer.Argument(..., help="The node to look at, e.g. scheduler or worker-1."),
    run: str | None = typer.Option(None, help="Run id.", show_default=ONLY_RUN),
    out: Path | None = typer.Option(
        None, help="Folder to write into.", show_default="the run record"
    ),
    timeout: float = typer.Option(20, help="Bound of the whole capture, in seconds."),
) -> None:
    """Capture a node's hang diagnostics: stacks, database locks, Celery tasks, logs.

    Python stacks (py-spy), database sessions and locks, Celery's active and reserved tasks,
    the node's last log lines.

    Example: `testbed diagnose scheduler`, or `testbed diagnose worker-1 --timeout 40`."""
    from testbed.cluster import Cluster
    from testbed.diagnose import capture

    cluster = Cluster.attach(pick_run(run))
    if not cluster.has(node):  # an unknown node is an error before anything is captured
        known = [*cluster.nodes, *cluster.topology.pods]
        raise ClusterError(f"no node {node!r} in run {cluster.run_id}; nodes: {', '.join(known)}")
    folder = out or cluster.dir
    summary = capture(cluster, node, "testbed diagnose (by hand)", folder, timeout=timeout)
    for part, status in summary["parts"].items():
        color = "green" if status == "ok" else "yellow"
        console.print(f"  {part:16} [{color}]{status}[/]", highlight=False)
    console.print(
        f"diagnostics of {node} ({summary['state']}) in {summary['took_seconds']:.1f}s: "
        f"{Path(folder) / summary['path']}"
    )


def audit(
    run: str | None = typer.Option(None, help="Run id.", show_default=ONLY_RUN),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Compare the Airflow nodes' configuration, DAG files and packages.

    Each node's effective configuration is read from Airflow itself (secrets as a fingerprint,
    never their value), each DAG file's content hashed, and the nodes compared; the options the
    testbed sets per node on purpose (each node's own links) are left out. Exit 1 on drift.

    Example: `testbed audit`, or `testbed audit --json`."""
    from testbed.cluster import Cluster
    from testbed.observe.node_config import audit as take

    cluster = Cluster.attach(pick_run(run))
    if cluster.topology.kubernetes:
        raise TestbedError(
            "testbed audit reads Docker nodes; a Kubernetes run's pods are not audited"
        )
    report = take(cluster)
    if as_json:
        sys.stdout.write(json.dumps(dataclasses.asdict(report), indent=2) + "\n")
    else:
        for line in report.lines():
            console.print(f"  [red]DRIFT[/] {line}", highlight=False)
        mark = "[green]no drift[/]" if report.clean else f"[red]{len(report.lines())} drift(s)[/]"
        console.print(f"{mark} among {', '.join(report.nodes)}", highlight=False)
    raise typer.Exit(0 if report.clean else 1)


def smoke(
    run: str | None = typer.Option(None, help="Run id.", show_default=ONLY_RUN),
) -> None:
    """Run the smoke drill against a running cluster.

    Example: `testbed up`, then `testbed smoke`."""
    from testbed.cluster import Cluster
    from testbed.smoke import run_smoke

    result = run_smoke(Cluster.attach(pick_run(run)))
    print_smoke(result)
    raise typer.Exit(0 if result.ok else 1)


def print_smoke(result) -> None:
    mark = "[green]PASS[/]" if result.ok else "[red]FAIL[/]"
    console.print(
        f"{mark} smoke: run {result.run_id} {result.state} on {result.worker}; "
        f"log in MinIO: {result.log_in_s3}; served by API: {result.api_log_has_marker}"
    )
