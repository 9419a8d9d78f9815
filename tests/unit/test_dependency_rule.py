"""The dependency rule of DESIGN §3, checked by import-linter's contracts in pyproject.toml."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 and "No module named importlinter.cli" in proc.stderr:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.lower().replace("0 broken", "")


def test_a_forbidden_import_would_be_caught(tmp_path: Path) -> None:
    """The contract can fail: a projection importing time breaks it."""
    bad = REPO / "projections" / "_tmp_contract_probe.py"
    bad.write_text("import time\n")
    try:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        bad.unlink()
    assert proc.returncode != 0
    assert "projections._tmp_contract_probe" in proc.stdout
