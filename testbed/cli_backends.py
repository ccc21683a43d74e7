"""``testbed backends``: what each backend supports (:mod:`testbed.support`), as a table, as
Markdown, or written into the README's generated block."""

from __future__ import annotations

from pathlib import Path

import typer

from testbed.core import progress


def backends(
    markdown: bool = typer.Option(False, "--markdown", help="The table as Markdown."),
    readme: Path | None = typer.Option(
        None, help="Rewrite this README's generated block with the table (the repository's)."
    ),
) -> None:
    """What each backend supports: topology choices, fault kinds, steps.

    What validation allows on each; a scenario asking for more is refused before it boots.
    Example: `testbed backends`, or `testbed backends --readme README.md` after a change."""
    from rich.table import Table

    from testbed import support

    if readme is not None:
        readme.write_text(support.with_block(readme.read_text()))
        progress.result(f"{readme}: the backend table rewritten")
        return
    if markdown:
        progress.result(support.markdown().rstrip("\n"))
        return
    table = Table("", *support.HEADS)
    for row in support.rows():
        table.add_row(f"{row.section}: {row.name}", *row.cells)
    progress.results.print(table)
