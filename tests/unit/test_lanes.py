"""`make test` runs two lanes (`-n 2 --dist loadgroup`): the tests of one `xdist_group` on one
worker, which then boots each topology once. This runs a tiny suite the same way and checks the
grouping held with the pytest and pytest-xdist installed (pytest 9.2 silently broke it:
pytest-dev/pytest-xdist#1386)."""

from __future__ import annotations

import os
import subprocess
import sys

SUITE = """
import os, pathlib, pytest

@pytest.mark.xdist_group("{group}")
@pytest.mark.parametrize("i", range(4))
def test_where(i):
    with open(pathlib.Path(__file__).parent / "ran.txt", "a") as f:
        f.write("{group} " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_one_group_runs_on_one_worker(tmp_path):
    for group in ("upgrades", "drills"):
        (tmp_path / f"test_{group}.py").write_text(SUITE.format(group=group))
    args = ["-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", *args, str(tmp_path)],
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    ).stdout
    ran = [line.split() for line in (tmp_path / "ran.txt").read_text().splitlines()]
    assert len(ran) == 8, out
    workers = {group: {w for g, w in ran if g == group} for group in ("upgrades", "drills")}
    assert all(len(w) == 1 for w in workers.values()), workers
