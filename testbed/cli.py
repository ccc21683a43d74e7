"""The `testbed` command: a thin shell over the library (clusters, images, drills).

Results (verdicts, plans, tables, paths, JSON) go to stdout, progress and logs to stderr. Errors
the testbed raises on purpose print as one actionable line (exit 2); Ctrl-C and SIGTERM tear
down what the command booted (exit 130); :mod:`testbed.core.exit_codes` has the whole table.

One typer app: the cluster commands (up, status, down, gc, logs, diagnose, audit, smoke) are in
:mod:`testbed.cli_cluster`, the ``images`` sub-app in :mod:`testbed.images.cli`, ``chaos`` and
``soak`` in their packages; the drill commands are here.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import json
import signal
import sys
import time
from pathlib import Path

import typer
from rich.markup import escape

from testbed import cli_cluster, runs
from testbed.airflow_config import parse_overrides
from testbed.backend_limits import BACKENDS
from testbed.chaos.cli import chaos as chaos_command
from testbed.cli_backends import backends as backends_command
from testbed.cli_cluster import check_workers, print_smoke
from testbed.cli_known_issues import known_issues as known_issues_command
from testbed.cli_preflight import preflight as preflight_command
from testbed.core import exit_codes as EXIT
from testbed.core import paths, progress
from testbed.core.errors import TestbedError
from testbed.images import catalog
from testbed.images.cli import images_app
from testbed.soak.cli import soak as soak_command
from testbed.topology import Topology

app = typer.Typer(
    no_args_is_help=True,
    epilog=EXIT.help_text(),
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(images_app, name="images")
console = progress.results  # results on stdout; progress on stderr

# boot, show, look into and remove clusters (testbed/cli_cluster.py)
for command in (
    cli_cluster.up,
    cli_cluster.status,
    cli_cluster.down,
    cli_cluster.gc,
    cli_cluster.logs,
    cli_cluster.diagnose,
    cli_cluster.audit,
    cli_cluster.smoke,
):
    app.command()(command)

DEMO_DRILL = "scenarios/scheduler_db_stall.yaml"


def _version(value: bool) -> None:
    if value:
        mine = importlib.metadata.version("airflow-testbed")
        built = ", ".join(catalog.IMAGE_VERSIONS)
        default = catalog.DEFAULT_AIRFLOW_VERSION
        progress.result(f"testbed {mine} (Airflow {built}; default {default})")
        raise typer.Exit(EXIT.HELD)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", is_eager=True, callback=_version, help="Print the version."
    ),
) -> None:
    """Drill a real Airflow deployment: boot it as containers, inject faults, judge what the
    production guide promises.

    Example: `testbed demo`, or `testbed list`, then `testbed run scheduler_hang`."""


@app.command()
def demo(
    drill: Path = typer.Option(
        Path(DEMO_DRILL), help="The drill to run after the smoke drill (a scenario file)."
    ),
    keep: bool = typer.Option(False, help="Leave the cluster up."),
) -> None:
    """Build missing images, boot, run the smoke drill and a fault drill, tear down.

    The fault drill is by default scheduler_db_stall: the scheduler's Postgres link stalled
    (the `stall` toxic holds the bytes and delivers them at the heal), with the hang
    diagnostics it triggers. Prints where the drill's report is.

    Example: `testbed demo`, or `testbed demo --drill scenarios/scheduler_hang.yaml --keep`."""
    from testbed.backends import images as image_provision
    from testbed.cluster import Cluster
    from testbed.core.interrupts import deferred
    from testbed.engine.execute import execute
    from testbed.scenario import load
    from testbed.smoke import run_smoke

    t0 = time.monotonic()
    scenario = load(paths.project_root() / drill if not drill.is_absolute() else drill)
    image_provision.ensure_scenarios([scenario])
    cluster = Cluster(scenario.topology.build())
    progress.step(f"booting run {cluster.run_id}")
    cluster.up()
    try:
        result = run_smoke(cluster)
        print_smoke(result)
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
    progress.result(f"drill report: {folder / 'report.html'}")
    console.print(f"demo took {time.monotonic() - t0:.0f}s")
    raise typer.Exit(
        EXIT.worst([EXIT.of_verdict(verdict), EXIT.HELD if result.ok else EXIT.FAILED])
    )


@app.command()
def compose(
    out: str = typer.Option("compose/celery", help="Folder to write docker-compose.yml into."),
    workers: int = typer.Option(2, help="Celery workers (each its own node)."),
    airflow_version: str = typer.Option(catalog.DEFAULT_AIRFLOW_VERSION, help="Airflow version."),
    set_: list[str] = typer.Option([], "--set", help="Airflow config override SECTION.KEY=VALUE."),
    kerberos: bool = typer.Option(
        False, help="Add a KDC, a ticket-refresher sidecar per worker and a kerberized Postgres."
    ),
    api_servers: int = typer.Option(1, min=1, max=3, help="api-servers (one name on the network)."),
    timescale: float = typer.Option(1.0, help="Compressed time: every drill timer scaled (0.2-1)."),
    executor: str = typer.Option(
        "CeleryExecutor", help="CeleryExecutor, or LocalExecutor (tasks run under the scheduler)."
    ),
) -> None:
    """Render a runnable Compose project of a topology (for reproducing by hand).

    Example: `testbed compose --workers 3 --out /tmp/testbed-compose`."""
    from pathlib import Path

    from testbed.compose import render

    check_workers(workers, executor)
    overrides = parse_overrides(set_)
    topology = Topology(
        workers,
        airflow_version,
        overrides,
        kerberos=kerberos,
        api_servers=api_servers,
        timescale=timescale,
        executor=executor,
    )
    path = render(topology, Path(out))
    console.print(f"wrote {path}; run it with: docker-compose -f {path} up -d")


@app.command()
def validate(
    files: list[str] = typer.Argument(..., help="Scenario files (.yaml or .py) or drill names."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file, on stdout."),
) -> None:
    """Validate scenario files (schema, names, DAGs, nodes, links); nothing boots.

    Every file is read, and every problem of every bad one reported (a line each); exit 2 if
    any is bad.

    Example: `testbed validate scenarios/*.yaml` or `testbed validate scheduler_hang`."""
    from testbed.scenario import load
    from testbed.scenario.catalog import resolve

    rows = []
    for file in files:
        try:
            s = load(resolve(file))
        except TestbedError as exc:
            problems = getattr(exc, "problems", [exc.one_line()])
            rows.append({"file": file, "ok": False, "error": exc.one_line(), "problems": problems})
            for problem in problems:  # every problem of every file, one line each
                progress.console.print(f"[red]error:[/] {escape(problem)}")
            continue
        rows.append({"file": file, "ok": True, "scenario": s.name, "steps": len(s.steps)})
        if not as_json:
            console.print(f"[green]ok[/] {escape(file)}: scenario {s.name}, {len(s.steps)} steps")
    if as_json:
        progress.result(json.dumps(rows, indent=1))
    raise typer.Exit(EXIT.USAGE if any(not r["ok"] for r in rows) else EXIT.HELD)


@app.command("list")
def list_(
    family: str | None = typer.Option(
        None, help="Only this family: faults, upgrade, kerberos, k8s, known."
    ),
    backend: str | None = typer.Option(
        None, help="Only drills on this backend: docker, kubernetes."
    ),
    as_json: bool = typer.Option(False, "--json", help="The catalogue as JSON, on stdout."),
) -> None:
    """The drill catalogue: name, family, backend, timescale, what each drill proves.

    Example: `testbed list --family upgrade`, then `testbed run upgrade_rolling_patch`."""
    from testbed.scenario import catalog as drills

    if family is not None and family not in drills.FAMILIES:
        raise typer.BadParameter(f"{family!r}; allowed: {', '.join(drills.FAMILIES)}")
    if backend is not None and backend not in BACKENDS:
        raise typer.BadParameter(f"{backend!r}; allowed: {', '.join(BACKENDS)}")
    found = drills.entries(family, backend)
    if as_json:
        progress.result(json.dumps([e.to_json() for e in found], indent=1))
        return
    for e in found:
        what = e.description[:110] + ("…" if len(e.description) > 110 else "")
        progress.result(f"{e.name:32} {e.family:9} {e.backend:10} x{e.timescale:<4g} {what}")


@app.command()
def run(
    files: list[str] = typer.Argument(
        ..., help="Scenario files (.yaml or .py) or drill names, run in order."
    ),
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
    as_json: bool = typer.Option(
        False, "--json", help="The verdicts as JSON on stdout (the readable ones on stderr)."
    ),
    clusters: int = typer.Option(
        1,
        min=1,
        max=4,
        help="Run the scenarios on this many clusters side by side (a worker process each; a "
        "free one takes the next scenario). docs/drills.md 'Compressed time' says when this helps.",
    ),
    kubeconfig: Path | None = cli_cluster.KUBECONFIG_OPTION,
    registry: str | None = cli_cluster.REGISTRY_OPTION,
    namespace: str = cli_cluster.NAMESPACE_OPTION,
) -> None:
    """Run scenarios on a real cluster, booted once per topology and reset between them.

    Each scenario's record folder gets history.jsonl, verdict.json and report.html (a timeline a
    person can read). Exit 0 only if every expectation held and every fault healed; 1 if an
    expectation failed or a step could not be carried out; 3 if the expectations held but the
    heal audit found something left broken.

    Example: `testbed run scheduler_hang worker_node_loss`, or `testbed run --dry-run x.yaml`."""
    from testbed.scenario import load
    from testbed.scenario.catalog import resolve
    from testbed.scenario.plan import plan

    target = cli_cluster.existing_target(kubeconfig, registry, namespace)
    if target and clusters > 1:
        raise TestbedError("--kubeconfig needs --clusters 1 (one run a namespace)")
    # every file is validated before anything boots
    scenarios = [load(resolve(f), target=target) for f in files]
    if dry_run:
        if as_json:
            progress.result(json.dumps([{"scenario": s.name, "plan": plan(s)} for s in scenarios]))
            return
        for s in scenarios:
            progress.result("\n".join(plan(s)))
        return
    if clusters > 1 and keep:
        raise TestbedError("--keep needs --clusters 1", hint="keep one cluster, or none")
    done: list = []
    with progress.results_on_stderr() if as_json else contextlib.nullcontext():
        if clusters > 1:
            code = runs.run_parallel(scenarios, clusters, junit, results=done)
        else:
            code = runs.run_all(scenarios, keep, junit, results=done, boot_ahead=boot_ahead)
    if as_json:
        progress.result(json.dumps([runs.verdict_json(v, f) for v, f in done], indent=1))
    raise typer.Exit(code)


@app.command()
def report(
    path: Path = typer.Argument(..., help="A scenario record folder, or a run folder."),
) -> None:
    """Write the HTML report of a record, or of each scenario of a run; print its path.

    Example: `testbed report .testbed/runs/RUN` (the run folder a drill run printed)."""
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
        progress.result(f"report: {write_html(folder)}")


@app.command("upgrade-plan")
def upgrade_plan(
    from_version: str = typer.Argument(..., metavar="FROM", help="Airflow version running now."),
    to_version: str = typer.Argument(..., metavar="TO", help="Airflow version to go to."),
    workers: int = typer.Option(2, help="Celery workers of the topology the steps name."),
    executor: str | None = typer.Option(
        None,
        show_default="CeleryExecutor; KubernetesExecutor with --kubernetes",
        help="CeleryExecutor, or LocalExecutor (tasks run under the scheduler); with "
        "--kubernetes also KubernetesExecutor or 'CeleryExecutor,KubernetesExecutor'.",
    ),
    kubernetes: bool = typer.Option(
        False,
        "--kubernetes",
        help="The deployment is the official chart's on Kubernetes: its Deployments rolled "
        "as `helm upgrade` does (a live upgrade only).",
    ),
    local: str | None = typer.Option(
        None,
        show_default="drain, with the LocalExecutor",
        help="With the LocalExecutor: 'drain' (pause every DAG, wait for the running tasks), "
        "'kill' (kill the scheduler with its tasks, clear them after) or 'term' (one TERM: "
        "the scheduler waits for its tasks before it exits).",
    ),
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
    """Whether the guide allows a live (rolling) upgrade FROM -> TO; its steps in order.

    FROM may be Airflow 2 (2.7 or later) with TO 3.x: Airflow's "Upgrading to Airflow 3"
    procedure (the 2.x schema read from its apache-airflow wheel).

    Example: `testbed upgrade-plan 3.3.1 3.3.2`, `testbed upgrade-plan 2.11.2 3.3.2`,
    `testbed upgrade-plan 3.3.1 3.3.2 --kubernetes`, or `testbed upgrade-plan 3.2.2 3.3.2
    --json`."""
    import json

    from testbed.upgrade import versions
    from testbed.upgrade.plan import plan_between

    def read(version: str) -> versions.SchemaInfo:
        return versions.schema_info(version, allow_wheel=wheel)

    if rollback not in ("restore", "downgrade"):
        raise typer.BadParameter(
            f"{rollback!r}; allowed: restore, downgrade", param_hint="--rollback"
        )
    if local not in (None, "drain", "kill", "term"):
        raise typer.BadParameter(f"{local!r}; allowed: drain, kill, term", param_hint="--local")
    executor = executor or ("KubernetesExecutor" if kubernetes else "CeleryExecutor")
    check_workers(workers, executor)
    backend = "kubernetes" if kubernetes else "docker"
    topology = Topology(workers, executor=executor, backend=backend)
    if local and not topology.local:
        raise typer.BadParameter("only with --executor LocalExecutor", param_hint="--local")
    plan, a, b = plan_between(
        from_version,
        to_version,
        read,
        nodes=topology.pods or topology.airflow_nodes,
        rollback=rollback,  # type: ignore[arg-type]
        local=(local or "drain") if topology.local else None,  # type: ignore[arg-type]
        kubernetes=kubernetes,
    )
    if as_json:
        sources = {i.version: i.source for i in (a, b)}
        sys.stdout.write(json.dumps({**plan.to_json(), "sources": sources}, indent=1) + "\n")
        return
    lines = plan.lines()
    read_from = [a] if a.version == b.version else [a, b]
    lines[1:1] = [
        f"  schema head of {i.version}: {i.head} (from the {i.source})" for i in read_from
    ]
    progress.result("\n".join(lines))


app.command()(chaos_command)  # testbed/chaos/cli.py
app.command()(soak_command)  # testbed/soak/cli.py
app.command("known-issues")(known_issues_command)  # testbed/cli_known_issues.py
app.command("preflight")(preflight_command)  # testbed/cli_preflight.py
app.command("backends")(backends_command)  # testbed/cli_backends.py


def _unwrap_paragraphs(typer_app: typer.Typer) -> None:
    """Each command's help as its docstring with the line breaks inside a paragraph removed:
    rich prints a help text's breaks as they are, so the terminal, not the source, wraps it."""
    for info in typer_app.registered_commands:
        text = info.help or inspect.getdoc(info.callback) or ""
        info.help = "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _unwrap_paragraphs(group.typer_instance)


_unwrap_paragraphs(app)


def _sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _sigterm)
    # Ctrl-C (SIGINT) interrupts even where the parent ignored it: a shell script's background
    # job (`testbed run ... &`) starts with SIGINT ignored, and a `kill -INT` must still heal
    # and remove the run, as `testbed run --clusters` workers do (testbed.parallel)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except TestbedError as exc:
        progress.console.print(f"[red]error:[/] {escape(exc.one_line())}")
        sys.exit(EXIT.USAGE)
    except KeyboardInterrupt:
        progress.console.print("[yellow]interrupted[/]: what this command started has been removed")
        sys.exit(EXIT.INTERRUPTED)
