"""Start the servers the benchmarks compare: ours as ``make dev`` runs it, and ``langgraph dev``.

Not a benchmark itself; ``bench/api.py`` (and later ones) import it::

    with start_ours() as ours, start_langgraph_dev(project_graphs()) as theirs:
        ...  # ours.url, theirs.url

- :func:`start_ours` runs ``manage.py dev`` on a free port with ``DURAGRAPH_HOME`` in a fresh
  temporary directory and without ``DATABASE_URL``/``NATS_URL``/``CELERY_BROKER_URL``, so it
  starts the embedded PostgreSQL and NATS exactly as a user's first ``make dev`` does.
- :func:`start_langgraph_dev` runs ``langgraph dev`` (in-memory runtime) from its own venv in
  ``.bench/langgraph-venv`` (:func:`ensure_langgraph_venv` creates it once), in a fresh temporary
  project directory, so the state it pickles to ``.langgraph_api/`` never carries over.

Both wait for ``GET /ok``; :meth:`Server.stop` sends SIGINT, waits, and then ends whatever the
server started that is still alive, so no process is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from duragraph_site import embedded

ROOT = Path(__file__).resolve().parent.parent
LANGGRAPH_VENV = ROOT / ".bench" / "langgraph-venv"
LANGGRAPH_CLI = "langgraph-cli[inmem]==0.4.40"
LOCALHOST = "127.0.0.1"


@dataclass
class Server:
    """A server under test: its base URL and, if this process started it, how to stop it."""

    name: str
    url: str
    process: subprocess.Popen[bytes] | None = None
    workdir: tempfile.TemporaryDirectory[str] | None = None
    log: Path | None = None

    def stop(self, timeout: float = 30) -> None:
        """SIGINT (both servers shut down cleanly on it), wait up to *timeout*, else SIGKILL its
        process group; then end whatever it started that outlived it."""
        if self.process is not None:
            started = self.processes()
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.process.pid)
                self.process.wait()
            _reap(started + self.processes())
            self.process = None
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None

    def database_url(self) -> str:
        """A libpq URL for the embedded PostgreSQL of a server :func:`start_ours` started, read
        from its ``postmaster.pid`` (line 5 is the socket directory), without attaching to it."""
        if self.workdir is None:
            raise RuntimeError(f"{self.name} was not started here: its database is unknown")
        pid_file = Path(self.workdir.name) / "home" / "pgdata" / "postmaster.pid"
        socket_dir = pid_file.read_text().splitlines()[4]
        return f"postgresql://{embedded.PG_USER}@/{embedded.PG_DATABASE}?host={socket_dir}"

    def processes(self) -> list[psutil.Process]:
        """What this server runs: its process tree, and the trees of daemons that name its
        temporary directory (the embedded PostgreSQL detaches from the server's tree)."""
        roots = [self.process.pid] if self.process is not None else []
        if self.workdir is not None:
            for process in psutil.process_iter(["cmdline"]):
                if any(self.workdir.name in arg for arg in process.info["cmdline"] or ()):
                    roots.append(process.pid)
        found: dict[int, psutil.Process] = {}
        for pid in roots:
            try:
                root = psutil.Process(pid)
                found.update((p.pid, p) for p in (root, *root.children(recursive=True)))
            except psutil.NoSuchProcess:
                continue
        return list(found.values())

    def log_tail(self, lines: int = 30) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


def start_ours(
    port: int | None = None,
    timeout: float = 180,
    graphs: dict[str, str] | None = None,
    store: dict | None = None,
) -> Server:
    """``python manage.py dev`` from the repository, as a user's very first ``make dev``.

    *graphs* ({graph id: "/abs/file.py:attr"}) are registered on top of the repository's
    ``langgraph.json`` (through ``DURAGRAPH_GRAPHS``); *store* is a ``langgraph.json`` ``store``
    section (then the file is a copy of the repository's with it).
    """
    workdir = tempfile.TemporaryDirectory(prefix="duragraph-bench-")
    # The embedded PostgreSQL runs as an unprivileged user when we are root: let it reach its data.
    os.chmod(workdir.name, 0o755)
    home = Path(workdir.name) / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "NATS_URL", "CELERY_BROKER_URL")
    }
    env["DURAGRAPH_HOME"] = str(home)
    if graphs:
        env["DURAGRAPH_GRAPHS"] = json.dumps(graphs)
    if store:
        config = Path(workdir.name) / "langgraph.json"
        config.write_text(json.dumps({"graphs": project_graphs(), "store": store}))
        env["DURAGRAPH_CONFIG"] = str(config)
    port = port or free_port()
    argv = [sys.executable, "manage.py", "dev", "--port", str(port)]
    return _start("ours", argv, ROOT, env, port, workdir, timeout)


def project_graphs() -> dict[str, str]:
    """The graphs our server registers (``langgraph.json`` at the repository root), absolute."""
    graphs: dict[str, str] = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    return {
        graph_id: str((ROOT / spec).resolve()) if spec.startswith(".") else spec
        for graph_id, spec in graphs.items()
    }


def start_langgraph_dev(
    graphs: dict[str, str],
    port: int | None = None,
    timeout: float = 120,
    extra_args: list[str] | None = None,
    store: dict | None = None,
) -> Server:
    """``langgraph dev`` (in-memory runtime) serving *graphs* ({graph id: "/abs/file.py:attr"}).

    *extra_args* go to ``langgraph dev`` (e.g. ``["--n-jobs-per-worker", "10"]``); *store* is
    its ``langgraph.json``'s ``store`` section.
    """
    langgraph = ensure_langgraph_venv() / "bin" / "langgraph"
    workdir = tempfile.TemporaryDirectory(prefix="langgraph-dev-bench-")
    config = Path(workdir.name) / "langgraph.json"
    document = {"dependencies": ["."], "graphs": graphs, **({"store": store} if store else {})}
    config.write_text(json.dumps(document))
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    port = port or free_port()
    argv = [
        str(langgraph),
        "dev",
        "--no-browser",
        "--no-reload",
        "--port",
        str(port),
        "--config",
        str(config),
        *(extra_args or []),
    ]
    return _start("langgraph dev", argv, Path(workdir.name), env, port, workdir, timeout)


def ensure_langgraph_venv() -> Path:
    """The venv holding ``langgraph-cli[inmem]`` (created and installed on first use)."""
    marker = LANGGRAPH_VENV / ".installed"
    if marker.exists() and marker.read_text() == LANGGRAPH_CLI:
        return LANGGRAPH_VENV
    print(
        f"installing {LANGGRAPH_CLI} into {LANGGRAPH_VENV} (once)...", file=sys.stderr, flush=True
    )
    pip = [str(LANGGRAPH_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    for argv in (["python3", "-m", "venv", "--clear", str(LANGGRAPH_VENV)], [*pip, LANGGRAPH_CLI]):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stdout + done.stderr)
            raise subprocess.CalledProcessError(done.returncode, argv)
    marker.write_text(LANGGRAPH_CLI)
    return LANGGRAPH_VENV


def _start(
    name: str,
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    port: int,
    workdir: tempfile.TemporaryDirectory[str],
    timeout: float,
) -> Server:
    log = Path(workdir.name) / "server.log"
    with log.open("wb") as out:
        # Its own session: a Ctrl-C at the terminal reaches only us, and we stop it in order.
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(
        name=name, url=f"http://{LOCALHOST}:{port}", process=process, workdir=workdir, log=log
    )
    try:
        _wait_until_ok(server, timeout)
    except BaseException:
        tail = server.log_tail()
        server.stop()
        if tail:
            print(f"--- {name} log (last lines) ---\n{tail}", file=sys.stderr)
        raise
    return server


def _wait_until_ok(server: Server, timeout: float) -> None:
    assert server.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode} before {server.url}/ok answered"
            )
        try:
            if httpx.get(f"{server.url}/ok", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{server.name}: {server.url}/ok did not answer within {timeout:.0f} s")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _reap(processes: list[psutil.Process], timeout: float = 10) -> None:
    """Give what is still running *timeout* seconds to exit on its own, then SIGTERM, SIGKILL."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(alive, timeout=5)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
