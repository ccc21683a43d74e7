"""pytest plugin (entry point ``pytest11: testbed``): real clusters and scenarios as fixtures.

- ``testbed_pool``: one :class:`~testbed.pool.ClusterPool` per session *and xdist worker*
  (each worker has its own run ids, networks and labels; a worker never boots a cluster twice
  for the same topology: it reuses it, reset between tests).
- ``testbed_cluster``: a ready default cluster (2 workers) from the pool, reset between tests.
- ``testbed_run_scenario``: a function ``(scenario or path) -> Verdict`` running it on a pooled
  cluster of the scenario's topology; ``testbed_verdict`` runs the scenario named by the test's
  ``@pytest.mark.scenario(path)`` marker.
- Tests with the ``scenario`` marker run after the others (fewer reboots of the pool); while
  one runs, the next one's cluster boots ahead when the current cluster will not serve it
  (another topology, or a drill no reset undoes; see :mod:`testbed.pool`).
- On a failed test that ran a scenario, the report gets the verdict, the step timeline, the
  last events, each node log's tail (:mod:`testbed.report.evidence`) and where the HTML
  report, the history and container logs were saved; with ``--junitxml``
  every scenario test carries its record, report and expectations as properties.
- Before the first boot, objects left by dead runs are garbage-collected.
Importing this module is cheap and needs no Docker; only requesting a fixture touches it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from packaging.version import Version

RECORD = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("testbed").addoption(
        "--testbed-no-boot-ahead",
        action="store_true",
        help="never boot the next scenario's cluster while one runs (see testbed.pool)",
    )


# pytest-xdist 3.8 groups tests by rewriting their node ids, which pytest 9.2 ignores
# (pytest-dev/pytest-xdist#1386): `xdist_group` then has no effect, silently
LOADGROUP_BROKEN = Version(pytest.__version__).release[:2] >= (9, 2)


def pytest_configure(config: pytest.Config) -> None:
    if LOADGROUP_BROKEN and config.getoption("dist", None) == "loadgroup":
        warnings.warn(
            f"pytest {pytest.__version__} with --dist loadgroup: pytest-xdist ignores "
            "xdist_group marks (pytest-dev/pytest-xdist#1386), so every worker boots its own "
            "clusters for every topology; use pytest<9.2",
            stacklevel=1,
        )
    config.addinivalue_line("markers", "integration: needs a Docker engine and the testbed images")
    config.addinivalue_line(
        "markers", "scenario(path): run this scenario file for the testbed_verdict fixture"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("scenario") is not None)


@pytest.fixture(scope="session")
def testbed_gc() -> set[str]:
    """Remove what dead runs left behind; returns the run ids removed."""
    from testbed import runtime

    runs, failed = runtime.gc()
    if failed:
        warnings.warn(f"testbed gc could not remove: {failed}", stacklevel=1)
    return runs


@pytest.fixture(scope="session")
def testbed_pool(request, testbed_gc):
    from testbed.pool import ClusterPool

    pool = ClusterPool(ahead=not request.config.getoption("testbed_no_boot_ahead"))
    _images_ahead(request.session.items)
    yield pool
    failed = pool.close(reason="pytest session end")
    if failed:  # reported, but never replaces the tests' own verdicts
        warnings.warn(f"testbed teardown left objects behind: {failed}", stacklevel=1)


@pytest.fixture
def testbed_cluster(testbed_pool):
    """A ready default cluster (2 workers), reused across tests and reset between them."""
    from testbed.topology import Topology

    return testbed_pool.get(Topology())


@pytest.fixture
def testbed_run_scenario(request, testbed_pool):
    """``run(scenario_or_path) -> Verdict`` on a pooled cluster of the scenario's topology."""
    from testbed.backends import images as image_provision
    from testbed.engine.execute import execute
    from testbed.scenario import Scenario, load

    def run(scenario: Scenario | str | Path):
        if not isinstance(scenario, Scenario):
            scenario = load(scenario)
        image_provision.ensure_scenarios([scenario])  # a no-op once built
        cluster = testbed_pool.get(scenario.topology.build())
        testbed_pool.boot_ahead(scenario, _next_scenario(request))
        verdict, folder = execute(scenario, cluster)
        request.node.stash.setdefault(RECORD, []).append((verdict, folder, cluster))
        _properties(request.node, verdict, folder)
        return verdict

    return run


@pytest.fixture
def testbed_verdict(request):
    """The verdict of the scenario named by the test's ``scenario`` marker."""
    marker = request.node.get_closest_marker("scenario")
    if marker is None or not marker.args:
        raise pytest.UsageError("testbed_verdict needs @pytest.mark.scenario('path/to/file')")
    return request.getfixturevalue("testbed_run_scenario")(marker.args[0])


def _images_ahead(items: list[pytest.Item]) -> None:
    """The images of their own that the session's scenarios need (the Kubernetes node) start
    building in the background while the tests before them run."""
    from testbed.backends import images as image_provision
    from testbed.scenario import load

    scenarios = []
    for item in items:
        marker = item.get_closest_marker("scenario")
        skipped = any(m.args and m.args[0] is True for m in item.iter_markers("skipif"))
        if marker is not None and marker.args and not skipped:
            try:
                scenarios.append(load(marker.args[0]))
            except Exception:  # noqa: BLE001 - its own test reports it
                continue
    image_provision.build_ahead(scenarios)


def _next_scenario(request):
    """The scenario of the test that runs next in this process (:func:`_following`), when it
    is known: not one skipped at collection (the pool boots it ahead only once its images are
    built: :func:`testbed.pool.images_present`)."""
    from testbed.scenario import load

    for item in _following(request):
        if any(m.args and m.args[0] is True for m in item.iter_markers("skipif")):
            continue
        marker = item.get_closest_marker("scenario")
        if marker is None or not marker.args:
            return None  # a test of its own may use the pool's cluster first
        try:  # a guess: a next scenario that does not load is its own test's failure
            return load(marker.args[0])
        except Exception:
            return None
    return None


def _following(request) -> list[pytest.Item]:
    """The tests this process runs after the current one, in order: every later one without
    xdist; under ``--dist loadgroup`` the later ones of the current test's ``xdist_group`` (a
    group runs whole on one worker, in collection order); otherwise none (another worker may
    take the next test)."""
    items = request.session.items
    if request.node not in items:
        return []
    later = items[items.index(request.node) + 1 :]
    if not hasattr(request.config, "workerinput"):
        return later
    group = _xdist_group(request.node)
    if group is None or not _loadgroup(request.config):
        return []
    return [item for item in later if _xdist_group(item) == group]


def _loadgroup(config: pytest.Config) -> bool:
    """Whether this xdist worker runs under ``--dist loadgroup``. A worker's own ``dist`` is
    always "no" (xdist's remote.setup_config): the controller's choice reaches it as the
    ``loadgroup`` option."""
    return bool(getattr(config.option, "loadgroup", False))


def _xdist_group(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return marker.args[0] if marker.args else marker.kwargs.get("name")


def _properties(item: pytest.Item, verdict, folder: Path) -> None:
    """What ``--junitxml`` carries for a scenario test: the record, the HTML report, and each
    expectation's outcome (findings marked as such, never as failures)."""
    props = item.user_properties
    props += [("testbed_record", str(folder)), ("testbed_report", str(folder / "report.html"))]
    for e in verdict.expectations:
        props.append((f"expect: {e['name']}", ("PASS " if e["ok"] else "FAIL ") + e["detail"]))
    props += [(f"finding: {f['name']}", f["detail"]) for f in verdict.findings]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        for verdict, folder, cluster in item.stash.get(RECORD, []):
            report.sections.append(
                (f"testbed {verdict.scenario}", _evidence(verdict, folder, cluster))
            )
    return report


def _evidence(verdict, folder: Path, cluster) -> str:
    from testbed.report import evidence

    logs = folder / "logs"
    try:
        logs.mkdir(exist_ok=True)
        for node, c in list(cluster.nodes.items()):
            (logs / f"{node}.log").write_bytes(c.logs(stdout=True, stderr=True, tail=2000))
    except Exception as exc:  # evidence is best effort; the verdict stands regardless
        logs = Path(f"(container logs not saved: {exc})")
    history = folder / "history.jsonl"
    events = evidence.read_events(history)
    return "\n".join(
        [
            *verdict.lines(),
            f"report: {folder / 'report.html'}",
            f"history: {history}",
            f"container logs: {logs}",
            "timeline:",
            *evidence.timeline(events),
            "last events:",
            *evidence.last_events(events),
            "node logs (tails):",
            *evidence.log_tails(logs),
        ]
    )
