"""Run the ``fundarb`` command line as a user would: a subprocess of this interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fundarb(
    args: list[str], env: dict[str, str], *, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m streams.cli ARGS`` in the repo with ``env``; output captured as text.

    Never raises for a non-zero exit (tests assert on ``returncode``); raises
    ``subprocess.TimeoutExpired`` after ``timeout`` seconds.
    """
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
