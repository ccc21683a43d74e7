"""The testbed's reads of the metadata database keep their connection: one backend serves
statement after statement, and a kept connection the server ended is replaced within the
same read (no read fails for it)."""

from __future__ import annotations

import pytest

from testbed.services import postgres

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("testbed-drills")]

PID = "select pg_backend_pid()"


def test_reads_share_one_backend_and_survive_its_termination(testbed_cluster):
    c = testbed_cluster
    pids = {postgres.query(c, PID, timeout=4)[0][0] for _ in range(20)}
    assert len(pids) == 1, pids  # twenty reads, one backend forked for them
    (pid,) = pids
    with postgres.connect(c) as other:
        assert other.execute("select pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
    after = postgres.query(c, PID, timeout=4)[0][0]  # the kept one is dead: a fresh one answers
    assert after != pid
    assert postgres.query(c, PID, timeout=4)[0][0] == after
