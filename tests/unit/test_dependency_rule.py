"""The dependency rule of DESIGN §3, checked by import-linter's contracts in pyproject.toml,
and determinism of the pure core (no wall clock, no randomness)."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_import_contracts_hold() -> None:
    proc = _lint()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_a_forbidden_import_would_be_caught() -> None:
    """The contract can fail: a projection importing time breaks it."""
    bad = REPO / "projections" / "_tmp_contract_probe.py"
    bad.write_text("import time\n")
    try:
        proc = _lint()
    finally:
        bad.unlink()
    assert proc.returncode != 0
    assert "projections._tmp_contract_probe" in proc.stdout


NONDETERMINISTIC = {
    "uuid1",
    "uuid4",
    "now",
    "utcnow",
    "today",
    "time",
    "monotonic",
    "perf_counter",
    "random",
    "randint",
    "choice",
    "shuffle",
    "getrandbits",
}


def test_the_pure_core_calls_no_clock_and_no_randomness() -> None:
    offenders = []
    for path in sorted((REPO / "projections").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in NONDETERMINISTIC
            ):
                offenders.append(f"{path.name}:{node.lineno} {ast.unparse(node.func)}")
    assert offenders == []
