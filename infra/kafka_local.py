"""A real Apache Kafka broker on loopback, from Maven Central jars, without Docker.

``up`` resolves ``org.apache.kafka:kafka_2.13`` (plus a log4j2 backend) with Maven into a
git-ignored cache once, formats KRaft storage, starts one broker+controller process in the
background (logs to a file), and waits until a produce/consume round trip succeeds. ``down``
stops only the process whose pid it recorded. Recipe: ``shared/notes/kafka-from-maven.md``;
main classes are the ones Kafka's own ``bin/kafka-server-start.sh`` and
``bin/kafka-storage.sh`` call.

Errors raised are :class:`BrokerError` with a message meant for a person (missing Java or
Maven, port taken, broker died with the tail of its log).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from infra.settings import Settings

# log4j2 release matched to the Kafka 4.x line (kafka-from-maven.md: 2.24.x for 4.0, 2.25.x later)
LOG4J_VERSION = "2.25.2"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
HEALTH_TOPIC = "__fundarb_health"


class BrokerError(RuntimeError):
    """The local broker could not be installed, started, checked or stopped."""


@dataclass(frozen=True)
class BrokerStatus:
    """What ``status`` reports.

    ``running`` means the recorded pid is a live broker process; ``healthy`` that a
    produce/consume round trip just succeeded (only checked when asked).
    """

    running: bool
    pid: int | None
    bootstrap: str
    log_file: Path
    data_dir: Path
    healthy: bool | None = None
    started_now: bool = False

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        parts = [f"broker {state}", f"bootstrap={self.bootstrap}"]
        if self.pid:
            parts.append(f"pid={self.pid}")
        if self.healthy is not None:
            parts.append("round-trip=ok" if self.healthy else "round-trip=FAILED")
        parts.append(f"log={self.log_file}")
        return " ".join(parts)


# ---- paths ---------------------------------------------------------------------------------
def _jar_dir(settings: Settings) -> Path:
    return settings.jars_dir / settings.kafka_version


def _pid_file(settings: Settings) -> Path:
    return settings.kafka_dir / "broker.pid"


def _log_file(settings: Settings) -> Path:
    return settings.kafka_dir / "server.log"


def _template(name: str) -> str:
    return resources.files("infra").joinpath("kafka", name).read_text(encoding="utf-8")


# ---- install -------------------------------------------------------------------------------
def require_tool(name: str, hint: str) -> str:
    """Path of an executable on PATH, or a :class:`BrokerError` saying how to get it."""
    found = shutil.which(name)
    if not found:
        raise BrokerError(f"'{name}' was not found on PATH. {hint}")
    return found


def ensure_jars(settings: Settings) -> Path:
    """Resolve the Kafka broker jars with Maven into the cache once; return the jar folder.

    Raises
    ------
    BrokerError
        Maven or Java missing, or Maven failed (its output is included).
    """
    lib = _jar_dir(settings) / "lib"
    done = _jar_dir(settings) / ".resolved"
    if done.is_file() and any(lib.glob("kafka_2.13-*.jar")):
        return lib
    mvn = require_tool(
        "mvn", "Install Apache Maven (e.g. `apt-get install maven`) or set FUNDARB_BOOTSTRAP."
    )
    require_tool("java", "Install a JDK 17+ (e.g. `apt-get install openjdk-17-jdk-headless`).")
    work = _jar_dir(settings)
    work.mkdir(parents=True, exist_ok=True)
    pom = (
        _template("pom.xml")
        .replace("@KAFKA_VERSION@", settings.kafka_version)
        .replace("@LOG4J_VERSION@", LOG4J_VERSION)
    )
    (work / "pom.xml").write_text(pom, encoding="utf-8")
    proc = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib.resolve()}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise BrokerError(
            f"Maven could not resolve org.apache.kafka:kafka_2.13:{settings.kafka_version}:\n{tail}"
        )
    done.write_text(settings.kafka_version, encoding="utf-8")
    return lib


# ---- process helpers -----------------------------------------------------------------------
def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port that is free on loopback right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_pid_file(settings: Settings) -> tuple[int, int] | None:
    """(pid, port) recorded by ``up``, or None."""
    try:
        pid, port = _pid_file(settings).read_text().split()
        return int(pid), int(port)
    except (FileNotFoundError, ValueError):
        return None


def _read_pid(settings: Settings) -> int | None:
    found = _read_pid_file(settings)
    return found[0] if found else None


def _is_our_broker(pid: int) -> bool:
    """The pid is alive and is a ``kafka.Kafka`` JVM (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    return b"kafka.Kafka" in cmdline


def _log_tail(settings: Settings, lines: int = 30) -> str:
    text = ""
    for path in (_log_file(settings), settings.kafka_dir / "stdout.log"):
        if path.is_file():
            text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
    return text


# ---- health check --------------------------------------------------------------------------
async def _roundtrip(bootstrap: str, timeout_s: float) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    marker = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await producer.start()
    try:
        meta = await producer.send_and_wait(HEALTH_TOPIC, marker)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(HEALTH_TOPIC, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500)
            if any(rec.value == marker for rec in batch.get(tp, [])):
                return
        raise BrokerError(f"round trip on {bootstrap}: produced record not read back")
    finally:
        await consumer.stop()


def roundtrip_ok(bootstrap: str, timeout_s: float = 15.0) -> bool:
    """Produce one record to a health topic and read it back; True on success."""
    try:
        asyncio.run(asyncio.wait_for(_roundtrip(bootstrap, timeout_s), timeout_s + 5))
    except Exception:
        return False
    return True


# ---- commands ------------------------------------------------------------------------------
def status(settings: Settings, check: bool = False) -> BrokerStatus:
    """The local broker's state; ``check`` adds a produce/consume round trip."""
    recorded = _read_pid_file(settings)
    pid = recorded[0] if recorded else None
    running = pid is not None and _is_our_broker(pid)
    if recorded and running:
        # report the port the broker really listens on, not the one asked for
        settings = settings.model_copy(update={"kafka_port": recorded[1]})
    healthy = roundtrip_ok(settings.bootstrap) if (check and running) else None
    return BrokerStatus(
        running=running,
        pid=pid if running else None,
        bootstrap=settings.bootstrap,
        log_file=_log_file(settings),
        data_dir=settings.broker_data_dir,
        healthy=healthy,
    )


def up(settings: Settings) -> BrokerStatus:
    """Start the local broker unless ours is already running (idempotent).

    Raises
    ------
    BrokerError
        An external cluster is configured, Java/Maven missing, the port is taken by another
        process, or the broker exited / did not become ready in time.
    """
    if not settings.uses_local_broker:
        raise BrokerError(
            f"bootstrap servers are configured ({settings.bootstrap_servers}); "
            "the local broker is only for when none is set"
        )
    current = status(settings)
    if current.running:
        recorded = _read_pid_file(settings)
        if recorded and recorded[1] != settings.kafka_port:
            raise BrokerError(
                f"this state folder's broker already runs on port {recorded[1]} "
                f"(pid {recorded[0]}); stop it with `fundarb infra down` first, or use another "
                f"state folder (FUNDARB_STATE_DIR) for a second broker"
            )
        return current
    for port in (settings.kafka_port, settings.controller_listener_port):
        if port_open(port):
            raise BrokerError(
                f"port {port} on 127.0.0.1 is taken by another process (not a broker this "
                f"state dir started); stop it or pick another port with FUNDARB_KAFKA_PORT"
            )
    java = require_tool(
        "java", "Install a JDK 17+ (e.g. `apt-get install openjdk-17-jdk-headless`)."
    )
    lib = ensure_jars(settings)
    kdir = settings.kafka_dir
    kdir.mkdir(parents=True, exist_ok=True)
    data_dir = settings.broker_data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    props = (
        _template("server.properties")
        .replace("@PORT@", str(settings.kafka_port))
        .replace("@CONTROLLER_PORT@", str(settings.controller_listener_port))
        .replace("@DATA_DIR@", str(data_dir))
    )
    props_file = kdir / "server.properties"
    props_file.write_text(props, encoding="utf-8")
    log4j_file = kdir / "log4j2.properties"
    log4j_file.write_text(_template("log4j2.properties"), encoding="utf-8")
    classpath = f"{lib.resolve()}/*"

    # the cluster id must stay the same for a data dir: keep it beside the data
    cluster_file = data_dir.parent / f"{data_dir.name}.cluster-id"
    if not cluster_file.is_file():
        cluster_file.write_text(uuid_base64(), encoding="utf-8")
    fmt = subprocess.run(
        [
            java,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_file.read_text().strip()}",
            "-c",
            str(props_file),
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if fmt.returncode != 0:
        raise BrokerError(
            f"formatting KRaft storage in {data_dir} failed:\n{fmt.stdout}{fmt.stderr}"
        )

    log_file = _log_file(settings).resolve()
    stdout = open(kdir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [
            java,
            "-Xms256m",
            f"-Xmx{settings.kafka_heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j_file.resolve()}",
            f"-Dfundarb.log.file={log_file}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(props_file.resolve()),
        ],
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the CLI process; down() stops it by pid
    )
    stdout.close()
    _pid_file(settings).write_text(f"{proc.pid} {settings.kafka_port}", encoding="utf-8")

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _pid_file(settings).unlink(missing_ok=True)
            raise BrokerError(
                f"the broker exited with code {proc.returncode} during start-up; log tail:\n"
                + _log_tail(settings)
            )
        if port_open(settings.kafka_port) and roundtrip_ok(settings.bootstrap, timeout_s=10):
            return BrokerStatus(
                running=True,
                pid=proc.pid,
                bootstrap=settings.bootstrap,
                log_file=log_file,
                data_dir=data_dir,
                healthy=True,
                started_now=True,
            )
        time.sleep(0.5)
    down(settings)
    raise BrokerError(
        f"the broker did not accept produce/consume within {READY_TIMEOUT_S:.0f}s; log tail:\n"
        + _log_tail(settings)
    )


@contextlib.contextmanager
def broker_for(
    settings: Settings, on_start: Callable[[], None] | None = None
) -> Iterator[BrokerStatus | None]:
    """The broker a one-command run (``backtest``, ``live``) uses: with no cluster configured
    and no local broker running, start ours (``on_start`` is told first) and stop it again on
    exit; otherwise use what is there. Yields the started broker's status, or None.

    Raises
    ------
    BrokerError
        The local broker could not be started.
    """
    started = None
    if settings.uses_local_broker and not status(settings).running:
        if on_start is not None:
            on_start()
        started = up(settings)
    try:
        yield started
    finally:
        if started is not None and started.started_now:
            down(settings)


def down(settings: Settings) -> bool:
    """Stop the broker this state dir started (by pid file). True if one was stopped."""
    pid = _read_pid(settings)
    if pid is None:
        return False
    if not _is_our_broker(pid):
        _pid_file(settings).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _is_our_broker(pid):
        _reap(pid)
        time.sleep(0.2)
    if _is_our_broker(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        _reap(pid)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # when the broker is our own child (tests), collect it so it does not linger as a zombie
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def uuid_base64() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as StorageTool)."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # a leading "-" reads as an option (Kafka avoids it too)
            return cluster_id
