"""The `testbed` command's exit codes, in one table: what each command returns, what the help
and the documentation list."""

from __future__ import annotations

HELD = 0  # every expectation held, every fault healed (or: the command did what it was asked)
FAILED = 1  # an expectation failed, or a step could not be carried out
USAGE = 2  # bad input (a scenario file, an option) or an error the testbed names in one line
LEFT_BROKEN = 3  # the expectations held, but the heal audit found something left broken
INTERRUPTED = 130  # Ctrl-C or SIGTERM: what the command started has been removed

TABLE: tuple[tuple[int, str], ...] = (
    (
        HELD,
        "every expectation held and every fault healed (or the command did its work; a "
        "known-issue drill reproducing its report on a version it affects counts as held)",
    ),
    (FAILED, "an expectation failed, or a step could not be carried out"),
    (USAGE, "bad input (which file, which field, what is allowed) or a named error"),
    (LEFT_BROKEN, "the expectations held, but the heal audit found something left broken"),
    (INTERRUPTED, "interrupted (Ctrl-C, SIGTERM): what the command started was removed"),
)


def worst(codes: list[int]) -> int:
    """A run's exit code: a failure over a heal problem over success."""
    return FAILED if FAILED in codes else LEFT_BROKEN if LEFT_BROKEN in codes else HELD


def of_verdict(verdict) -> int:
    """One scenario's code: none (it did not run) or a failed verdict is :data:`FAILED`; a
    known issue reproduced on a version it affects is not a failure (its drill says so)."""
    if verdict is None or not (verdict.ok or verdict.known_failure):
        return FAILED
    return HELD if verdict.clean else LEFT_BROKEN


def help_text() -> str:
    """The table as the help's epilog lists it."""
    return "Exit codes: " + "; ".join(f"{code} {what}" for code, what in TABLE) + "."
