"""``manage.py dev``: the whole product in one command, with nothing to provision.

Embedded PostgreSQL and NATS unless ``DATABASE_URL``/``NATS_URL`` say otherwise, migrations,
a bootstrap admin, then the service processes (daphne, the executor, the scheduler and the
relay) supervised as children. Ctrl-C (or SIGTERM) stops the children, then
NATS, then PostgreSQL, and leaves the data under ``.duragraph/`` for next time.

The children are told everything explicitly: where the servers are, the names to answer to,
the ``SECRET_KEY`` (this process's: the environment's, else the one kept under
``.duragraph/``) and whether to authenticate (:func:`authentication`: off on loopback unless
``AUTH_ENABLED=true`` or ``langgraph.json`` names custom auth; on beyond loopback).
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connections
from prometheus_client import multiprocess

from accounts import custom_auth
from assistants import graphs
from assistants import services as assistant_services
from duragraph_site import embedded
from duragraph_site.langgraph_config import config_file, custom_auth_path

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("duragraph.dev")

ADMIN_USERNAME = "admin"
CREDENTIALS_FILE = "admin-credentials.txt"


@dataclass(frozen=True)
class Authentication:
    """Whether the dev server's children require credentials (their ``AUTH_ENABLED``), and
    the banner line that says so."""

    enabled: bool
    banner: str


def is_loopback(host: str) -> bool:
    """Whether binding to *host* keeps the server on this machine (``0.0.0.0`` does not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another name: whatever interface it resolves to


def authentication(host: str, environ: Mapping[str, str], config: Path | None) -> Authentication:
    """What ``manage.py dev`` does with authentication, as ``langgraph dev`` would.

    ``AUTH_ENABLED`` in the environment decides when set. Otherwise it stays on when
    ``langgraph.json`` names a custom auth handler (``"auth": {"path": ...}``) or when the
    server is bound beyond loopback (others on the network reach it), and is turned off for a
    loopback server, where only this machine's user can call it.
    """
    explicit = environ.get("AUTH_ENABLED", "").strip()
    if explicit:
        enabled = explicit.lower() in ("true", "on", "ok", "y", "yes", "1")  # django-environ's
        state = "on" if enabled else "off"
        return Authentication(enabled, f"Authentication: {state} (AUTH_ENABLED={explicit})")
    if (path := custom_auth_path(config)) is not None:
        return Authentication(True, f"Authentication: custom ({path})")
    if not is_loopback(host):
        return Authentication(
            True,
            f"Authentication: on (bound to {host}, beyond loopback; API keys: "
            "manage.py apikey create, or the admin; AUTH_ENABLED=false to turn it off)",
        )
    return Authentication(
        False, "Authentication: off (loopback dev server; set AUTH_ENABLED=true to require keys)"
    )


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
                f"DuraGraph is up: http://{self.host}:{self.port}/  (the dashboard: sign in with the"
                f" admin user; Django admin: http://{self.host}:{self.port}/admin/)"
            )
            self.say(
                f"Answering to Host: {', '.join(self._allowed_hosts())} (add names with ALLOWED_HOSTS)"
            )
            self.say(self._authentication().banner)
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
        self._load_custom_auth()
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
            "ALLOWED_HOSTS": ",".join(self._allowed_hosts()),
            "AUTH_ENABLED": "true" if self._authentication().enabled else "false",
            # This supervisor's key (SECRET_KEY, else the one kept under .duragraph/): the
            # children are told it, as they are told where the database is, so that they
            # need no secret of their own (settings.PRODUCTION).
            "SECRET_KEY": settings.SECRET_KEY,
        }

    def _authentication(self) -> Authentication:
        # The file the graph registry reads (langgraph.json, or DURAGRAPH_CONFIG).
        return authentication(self.host, os.environ, config_file())

    def _load_custom_auth(self) -> None:
        """A custom auth that cannot load stops dev at start, with the reason, instead of
        answering 500 to every request."""
        if custom_auth_path(config_file()) is None:
            return
        try:
            custom_auth.configured()
        except Exception as error:  # noqa: BLE001 - the user's module: any error is the reason
            raise CommandError(f"langgraph.json's auth cannot be loaded: {error}") from error

    def _allowed_hosts(self) -> list[str]:
        """The names the dev server answers to: loopback, the interface it is bound to (when
        it is a name or address, not a wildcard), and whatever ``ALLOWED_HOSTS`` adds. Never
        ``*`` unless configured: a page on a name rebound to 127.0.0.1 must be refused."""
        bound = [] if self.host in ("0.0.0.0", "::", "") else [self.host]
        if ":" in self.host and not self.host.startswith("["):
            bound = [f"[{self.host}]"] if bound else []  # an IPv6 address, as Host writes it
        configured = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",")]
        hosts = [*settings.LOOPBACK_HOSTS, *bound, *configured]
        return list(dict.fromkeys(h for h in hosts if h))

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
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "duragraph_site",
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
            # The periodic jobs: lease reaper, queue sweeper, crons, TTL expiry.
            Child("scheduler", [python, "-m", "django", "scheduler"]),
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
