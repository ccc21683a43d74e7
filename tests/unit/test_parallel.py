"""The parallel runner's bookkeeping, with real worker processes and no Docker: outcomes come
back in the scenarios' order whatever order they end in, a worker that dies mid-scenario
leaves that scenario an error (not a wait forever), and each worker's output is tagged."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import time

from testbed import parallel
from testbed.core import progress
from testbed.parallel import Outcome

CTX = mp.get_context("spawn")


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def _reports(n: int, results, plan: list[tuple[int, float]]) -> None:
    """A worker that 'runs' scenarios: (index, seconds) each, then says it is done."""
    for index, seconds in plan:
        results.put(("start", n, index))
        time.sleep(seconds)
        results.put(("outcome", n, Outcome(index, f"s{index}", n, error="no verdict here")))
    results.put(("done", n, [0.5 * n]))


def _dies(n: int, results, index: int) -> None:
    results.put(("start", n, index))
    time.sleep(0.2)
    os._exit(9)  # killed mid-scenario: no outcome, no "done"


def _collect(targets) -> tuple[parallel.Result, list[int]]:
    results = CTX.Queue()
    workers = [CTX.Process(target=t, args=(n, results, arg)) for n, (t, arg) in targets]
    for w in workers:
        w.start()
    seen: list[int] = []
    scenarios = [_Named(f"s{i}") for i in range(4)]
    got = parallel.Result([])
    parallel._collect(scenarios, workers, results, lambda o: seen.append(o.index), got)
    return got, seen


def test_outcomes_in_scenario_order_and_resets_of_every_worker():
    got, seen = _collect([(1, (_reports, [(0, 3.0), (3, 0.0)])), (2, (_reports, [(1, 0.0)]))])
    assert seen[0] == 1  # reported as they ended ...
    assert [o.index for o in got.outcomes] == [0, 1, 3]  # ... returned in order
    assert [o.worker for o in got.outcomes] == [1, 2, 1]
    assert sorted(got.resets) == [0.5, 1.0]
    assert not got.interrupted


def test_a_worker_that_dies_mid_scenario_leaves_an_error_not_a_hang():
    t0 = time.monotonic()
    got, seen = _collect([(1, (_dies, 2)), (2, (_reports, [(0, 0.0)]))])
    assert time.monotonic() - t0 < 30
    assert [o.index for o in got.outcomes] == [0, 2]
    dead = got.outcomes[1]
    assert dead.worker == 1 and dead.verdict is None
    assert dead.error == "worker c1 died (exit 9)"
    assert sorted(seen) == [0, 2]


def test_tagged_output_starts_every_line_with_the_tag():
    out = io.StringIO()
    stream = progress._Tagged(out, "[c2] ")
    stream.write("one\ntw")
    stream.write("o\nthree\n")
    assert out.getvalue() == "[c2] one\n[c2] two\n[c2] three\n"
