"""Fixtures for tests against real PostgreSQL."""

from __future__ import annotations

import pytest

from assistants import services as assistant_services
from events.models import Event, Outbox


@pytest.fixture
def assistant(db):
    return assistant_services.assistant_create(graph_id="agent", name="helper")


@pytest.fixture
def thread(db):
    from threads import services as thread_services

    return thread_services.thread_create(metadata={"owner": "ada"})


class LogCounter:
    """The number of events and outbox rows, to prove that a failed command wrote nothing."""

    def snapshot(self) -> tuple[int, int]:
        return Event.objects.count(), Outbox.objects.count()


@pytest.fixture
def log_counter(db):
    return LogCounter()
