"""``manage.py dev``: the whole product in one command, with nothing to provision.

Embedded PostgreSQL and NATS unless ``DATABASE_URL``/``NATS_URL`` say otherwise, migrations,
a bootstrap admin, then the service processes (daphne today; the relay, the executor and the
scheduler as they arrive) supervised as children. Ctrl-C (or SIGTERM) stops the children, then
NATS, then PostgreSQL, and leaves the data under ``.duragraph/`` for next time.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from prometheus_client import multiprocess

from assistants import graphs
from assistants import services as assistant_services
from duragraph_site import embedded

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("duragraph.dev")

ADMIN_USERNAME = "admin"
CREDENTIALS_FILE = "admin-credentials.txt"


@dataclass
class Child:
    """A supervised service process, restarted with backoff when it dies."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    #: Consecutive quick deaths; the restart delay doubles with each (1 s ... 30 s).
    crashes: int = 0
    restart_at: float | None = None

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(self.argv, env=env, preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()
        self.restart_at = None


@dataclass
class DevStack:
    host: str
    port: int
    executors: int = 4
    home: Path = field(default_factory=embedded.home)
    say: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)
    _env: dict[str, str] = field(default_factory=dict)
    _nats: embedded.EmbeddedNats | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        """Start everything, block until Ctrl-C/SIGTERM or a child dies, stop everything."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stop.set())
        try:
            env = self._prepare()
            self._start_children(env)
            self.say(
                f"DuraGraph is up: http://{self.host}:{self.port}/  (admin: http://{self.host}:{self.port}/admin/)"
            )
            self.say("Press Ctrl-C to stop.")
            return self._supervise()
        finally:
            self._shutdown()

    # -- start ---------------------------------------------------------------------------------
    def _prepare(self) -> dict[str, str]:
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url:
            pg = embedded.postgres()
            database_url = pg.url(settings.DATABASES["default"]["NAME"])
            self.say(f"PostgreSQL (embedded): {pg.pgdata}")
        call_command("migrate", interactive=False, verbosity=0)
        self._bootstrap_admin()
        created = assistant_services.assistants_ensure_system()
        self.say(
            f"Graphs: {', '.join(graphs.registry().ids()) or 'none'} ({len(created)} default assistant(s) created)"
        )
        nats_url = os.environ.get("NATS_URL", "")
        if not nats_url:
            self._nats = embedded.EmbeddedNats.start(self.home / "nats")
            nats_url = self._nats.url
            self.say(f"NATS (embedded, JetStream): {nats_url}")
        # Children reach the same servers but never own them: only this supervisor stops them.
        connections.close_all()
        return {
            **os.environ,
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "DURAGRAPH_HOME": str(self.home),
            "PROMETHEUS_MULTIPROC_DIR": str(self._metrics_dir()),
        }

    def _metrics_dir(self) -> Path:
        """Where every child writes its Prometheus series, so that ``/metrics`` (daphne) serves
        the executors', the scheduler's and the relay's too; emptied at each start (counters
        restart from zero, as they would with one process)."""
        directory = self.home / "prometheus"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        return directory

    def _bootstrap_admin(self) -> None:
        """Create a superuser on first run; its password is printed once and kept in .duragraph/."""
        credentials = self.home / CREDENTIALS_FILE
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.say(
                f"Admin login: see {credentials}"
                if credentials.exists()
                else "Admin login: an existing superuser"
            )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
        credentials.write_text(f"username: {ADMIN_USERNAME}\npassword: {password}\n")
        credentials.chmod(0o600)
        self.say(
            f"Created the admin user. username: {ADMIN_USERNAME}  password: {password}  (kept in {credentials})"
        )

    def _start_children(self, env: dict[str, str]) -> None:
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "duragraph_site"]
        self.children = [
            Child(
                "daphne",
                [
                    python,
                    "-m",
                    "daphne",
                    "-b",
                    self.host,
                    "-p",
                    str(self.port),
                    "duragraph_site.asgi:application",
                ],
            ),
            # The built-in executor: a Celery worker whose thread pool runs graphs.
            Child(
                "executor",
                [
                    *celery,
                    "worker",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(self.executors),
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    "executor@%h",
                ],
            ),
            # The periodic scheduler: lease reaper, queue sweeper, crons, TTL expiry.
            Child(
                "scheduler",
                [
                    *celery,
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "--schedule",
                    str(self.home / "celerybeat-schedule"),
                ],
            ),
            Child("relay", [python, "-m", "django", "relay_outbox"]),  # outbox -> JetStream
        ]

        self._env = env
        for child in self.children:
            child.start(env)
        embedded.wait_for_port(self.host, self.port, timeout=30)

    # -- run and stop --------------------------------------------------------------------------
    def _supervise(self) -> int:
        """Until Ctrl-C: restart any child that dies (a crashed executor loses no run: another
        attempt resumes it), waiting longer after each quick death so a broken one does not spin."""
        while not self._stop.wait(0.2):
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self.say(f"restarting {child.name}")
                        child.start(self._env)
                elif child.process is not None and child.process.poll() is not None:
                    # Its live gauges (open streams) die with it; its counters stay counted.
                    multiprocess.mark_process_dead(
                        child.process.pid, self._env["PROMETHEUS_MULTIPROC_DIR"]
                    )
                    child.crashes = child.crashes + 1 if now - child.started_at < 60 else 1
                    delay = min(30.0, 2.0 ** (child.crashes - 1))
                    self.say(
                        f"{child.name} exited with {child.process.returncode}; restarting in {delay:.0f}s"
                    )
                    child.restart_at = now + delay
        self.say("Stopping DuraGraph...")
        return 0

    def _shutdown(self) -> None:
        running = [
            c.process for c in self.children if c.process is not None and c.process.poll() is None
        ]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._nats is not None:
            self._nats.stop()
        connections.close_all()
        for alias in connections:
            connections[alias].close_pool()
        # The embedded PostgreSQL stops when this process, its last client, exits (atexit).


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor itself is killed (Linux PR_SET_PDEATHSIG)."""
    os.setpgrp()  # Ctrl-C reaches the supervisor only; it stops the children in order
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
