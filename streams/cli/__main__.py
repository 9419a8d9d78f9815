"""``python -m streams.cli`` (the tests and the worker/live subprocesses run it this way)."""

from streams.cli import main

main()
