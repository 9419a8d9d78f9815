"""`fundarb infra up | status | down` against a second, throwaway local broker."""

import subprocess
import sys
from pathlib import Path

import pytest

from infra import kafka_local
from tests.e2e.cli import fundarb

REPO = Path(__file__).resolve().parents[2]


def _cli(state: Path, port: int, cport: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin:/usr/local/bin",
        "HOME": str(Path.home()),
        "FUNDARB_STATE_DIR": str(state),
        "FUNDARB_KAFKA_PORT": str(port),
        "FUNDARB_CONTROLLER_PORT": str(cport),
        "FUNDARB_KAFKA_JARS_DIR": str(REPO / ".fundarb" / "kafka" / "jars"),
        "FUNDARB_KAFKA_HEAP": "512m",
        "COLUMNS": "200",
    }
    return fundarb(list(args), env, timeout=180)


def _broker_pids(state: Path) -> set[int]:
    """Pids of brokers whose command line names ``state`` (their server.properties lives
    there): other brokers on the machine (other test sessions, a developer's) don't count."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                if b"kafka.Kafka" in cmdline and str(state).encode() in cmdline:
                    pids.add(int(proc.name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="process listing needs /proc")
def test_up_twice_is_one_broker_and_down_leaves_none(tmp_path: Path) -> None:
    port, cport = kafka_local.free_port(), kafka_local.free_port()
    before = _broker_pids(tmp_path)
    first = _cli(tmp_path, port, cport, "infra", "up")
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"bootstrap servers: 127.0.0.1:{port}" in first.stdout
        started = _broker_pids(tmp_path) - before
        assert len(started) == 1

        second = _cli(tmp_path, port, cport, "infra", "up")
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        assert _broker_pids(tmp_path) - before == started

        status = _cli(tmp_path, port, cport, "infra", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "round-trip=ok" in status.stdout
        assert (tmp_path / "kafka" / "server.log").read_text().count("Kafka Server started") == 1
    finally:
        down = _cli(tmp_path, port, cport, "infra", "down")
    assert "broker stopped" in down.stdout
    assert _broker_pids(tmp_path) - before == set()
    after = _cli(tmp_path, port, cport, "infra", "status")
    assert after.returncode == 3
    assert "broker stopped" in after.stdout


def test_port_taken_by_a_stranger_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        res = _cli(tmp_path, port, kafka_local.free_port(), "infra", "up")
    assert res.returncode == 1
    assert f"port {port}" in res.stderr and "taken by another process" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kafka_local.BrokerError, match="'java' was not found"):
        kafka_local.require_tool("java", "Install a JDK 17+.")
