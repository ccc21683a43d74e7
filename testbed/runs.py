"""Scenarios run one after another on pooled clusters, their verdicts printed, their exit code:
the library behind ``testbed run`` (serial, or ``--clusters N`` side by side), ``testbed chaos``
and ``testbed soak``.

A serial run boots each scenario's cluster ahead while the one before it runs (see
:mod:`testbed.pool`), so a pack of drills of different topologies pays its boots beside the
drills, not between them.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path

from rich.markup import escape

from testbed.core import exit_codes as EXIT
from testbed.core import progress
from testbed.core.errors import TestbedError


def run_all(
    scenarios,
    keep: bool,
    junit: Path | None = None,
    around=None,
    results=None,
    boot_ahead: bool = True,
) -> int:
    """Run each scenario on a pooled cluster (one per topology), print its verdict, remove the
    clusters (unless ``keep``); the exit code of the worst verdict. A missing Kubernetes node
    image builds in the background meanwhile; a Kubernetes scenario waits for it.
    ``around(cluster)``: a context manager each scenario runs inside (e.g. the soak's usage
    sampler); ``results``: a list that gets each (verdict, folder); ``boot_ahead``: see
    :mod:`testbed.pool`."""
    from testbed.backends import images as image_provision
    from testbed.engine.execute import Interrupted, execute
    from testbed.pool import ClusterPool

    image_provision.ensure_scenarios([s for s in scenarios if not _own_images(s)])
    image_provision.build_ahead(scenarios)  # the Kubernetes node, while the others run
    pool = ClusterPool(detached=keep, ahead=boot_ahead)
    codes, results = [], [] if results is None else results
    try:
        for n, s in enumerate(scenarios):
            if _own_images(s):  # waits for the build ahead (or builds, if it failed)
                image_provision.ensure_scenarios([s])
            cluster = pool.get(s.topology.build())
            progress.step(f"scenario {s.name} on run {cluster.run_id}")
            pool.boot_ahead(s, scenarios[n + 1] if n + 1 < len(scenarios) else None)
            try:
                with around(cluster) if around else contextlib.nullcontext():
                    verdict, folder = execute(
                        s,
                        cluster,
                        on_step=lambda i, text: progress.step(f"  {i:2}. {escape(text)}"),
                    )
            except Interrupted as stop:
                results.append((stop.verdict, stop.folder))
                print_verdict(stop.verdict, stop.folder)
                raise
            results.append((verdict, folder))
            print_verdict(verdict, folder)
            codes.append(EXIT.of_verdict(verdict))
    finally:
        _finish(pool, keep, junit, results)
    return EXIT.worst(codes)


def _own_images(scenario) -> bool:
    """Whether the scenario's backend needs images of its own (the Kubernetes node)."""
    from testbed.backends import backend_for

    return bool(backend_for(scenario.topology.build()).images())


def _finish(pool, keep: bool, junit: Path | None, results: list) -> None:
    """The JUnit file, then the pool's clusters removed (unless ``keep``), its resets said."""
    from testbed.core.interrupts import deferred

    if junit is not None and results:
        from testbed.report import write_junit

        progress.result(f"JUnit: {write_junit(results, junit)}")
    with deferred("removing the cluster; this finishes in a few seconds"):
        # a kept run keeps its last cluster, never one booted ahead and not used
        failed = pool.discard_ahead() if keep else pool.close(reason="testbed run done")
    if failed:
        progress.warn(f"teardown left: {'; '.join(failed)}")
    if pool.reset_seconds:
        progress.console.print(f"resets: {', '.join(f'{x:.1f}s' for x in pool.reset_seconds)}")


def run_parallel(scenarios, clusters: int, junit: Path | None, results=None) -> int:
    """:func:`run_all` on several clusters at once (testbed.parallel); verdicts print as they
    end; ``results``: a list that gets each (verdict, folder)."""
    from testbed.backends import images as image_provision
    from testbed.parallel import run_parallel as run_side_by_side

    image_provision.ensure_scenarios(scenarios)  # built once, before any worker starts

    def show(outcome) -> None:
        if outcome.verdict is not None:
            print_verdict(outcome.verdict, outcome.folder)
        else:
            progress.console.print(f"[red]ERROR[/] {outcome.name}: {escape(outcome.error or '')}")

    result = run_side_by_side(scenarios, clusters, on_outcome=show)
    done = [(o.verdict, o.folder) for o in result.outcomes if o.verdict is not None]
    if results is not None:
        results.extend(done)
    if junit is not None and done:
        from testbed.report import write_junit

        progress.result(f"JUnit: {write_junit(done, junit)}")
    if result.resets:
        progress.console.print(f"resets: {', '.join(f'{x:.1f}s' for x in result.resets)}")
    if result.interrupted:
        raise KeyboardInterrupt
    fatal = [o for o in result.outcomes if o.fatal]
    if fatal:  # no engine, an image missing: as a serial run says it (exit 2)
        raise TestbedError(fatal[0].error or "a cluster could not boot")
    ran = {o.index for o in result.outcomes}
    for i, s in enumerate(scenarios):
        if i not in ran:
            stopped = "never ran (its worker stopped)"
            progress.console.print(f"[red]ERROR[/] {escape(s.name)}: {stopped}")
    codes = [EXIT.of_verdict(o.verdict) for o in result.outcomes] + [EXIT.FAILED] * (
        len(scenarios) - len(ran)
    )
    return EXIT.worst(codes)


def verdict_json(verdict, folder: Path) -> dict:
    """One scenario's verdict as ``testbed run --json`` prints it: the verdict (as its record's
    verdict.json has it), where its record and report are, its exit code."""
    report = folder / "report.html"
    return asdict(verdict) | {
        "clean": verdict.clean,
        "exit_code": EXIT.of_verdict(verdict),
        "record": str(folder),
        "report": str(report) if report.exists() else None,
    }


def print_verdict(verdict, folder) -> None:
    """Each expectation's line, then the verdict with its record and report."""
    console = progress.results
    for line in verdict.lines():
        color = {"PASS": "green", "FAIL": "red", "NOTE": "cyan"}.get(line[:4], "yellow")
        console.print(f"  [{color}]{line[:4]}[/]{escape(line[4:])}", highlight=False)
    mark = "[green]PASSED[/]" if verdict.ok else "[red]FAILED[/]"
    if verdict.known_failure:  # expected: the drill reproduces a report on a version it affects
        k = verdict.known_issue
        mark = f"[yellow]KNOWN ISSUE[/] {k['reference']} reproduced on {k['version']}:"
    mark = "[yellow]INTERRUPTED[/]" if verdict.interrupted else mark
    console.print(f"{mark} {verdict.scenario} in {verdict.wall_seconds:.0f}s; record: {folder}")
    if (folder / "report.html").exists():
        progress.result(f"  report: {folder / 'report.html'}")
