"""`python -m testbed` runs the CLI."""

from testbed.cli import main

main()
