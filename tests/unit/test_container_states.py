"""A node's container state read from the engine's list (one call per round), said as an
inspect says it: the list gives the exit code only in its Status text."""

from __future__ import annotations

import pytest

from testbed import runtime


@pytest.mark.parametrize(
    ("row", "state"),
    [
        ({"State": "running", "Status": "Up 3 minutes"}, "running"),
        ({"State": "paused", "Status": "Up 3 minutes (Paused)"}, "paused"),
        ({"State": "exited", "Status": "Exited (137) 2 seconds ago"}, "exited(137)"),
        ({"State": "exited", "Status": "Exited (0) About a minute ago"}, "exited(0)"),
        ({"State": "exited", "Status": "odd"}, "exited(None)"),
        ({"State": "created", "Status": "Created"}, "created"),
        ({}, "unknown"),
    ],
)
def test_a_list_row_says_the_state_an_inspect_says(row, state):
    assert runtime._row_state(row) == state
