"""Reports of a scenario's record: a self-contained HTML page (timeline and tables) read from the
record folder's ``history.jsonl``, and JUnit XML over many verdicts for CI systems."""

from testbed.report.html import write_html
from testbed.report.junit import write_junit

__all__ = ["write_html", "write_junit"]
