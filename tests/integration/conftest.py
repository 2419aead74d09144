"""Fixtures for tests against real PostgreSQL."""

from __future__ import annotations

import gc

import pytest
from django.db import connection

from assistants import services as assistant_services
from events.models import Event, Outbox


@pytest.fixture
def system_assistant(db):
    """The ``agent`` graph's default assistant (its graph name works as its id)."""
    from assistants import domain as assistant_domain

    assistant_services.assistant_ensure_default(graph_id="agent")
    return assistant_domain.system_assistant_id("agent")


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


@pytest.fixture
def no_nats(settings):
    """Streams without NATS (woken by the outbox NOTIFY)."""
    from runs import live

    settings.NATS_URL = ""
    yield
    live.outbox_listener.stop()  # its connection must not outlive the test database


@pytest.fixture
def staff(client, django_user_model):
    """The test client, signed in as a staff user (the dashboard's pages are theirs)."""
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def connections_in_use(transactional_db):
    """How many more of the pool's connections are checked out than when the test began, once
    this thread has given its own back. A thread that never returns its connection (one of
    LangGraph's short-lived threads, say) keeps it checked out for good, and enough of them
    starve the pool. Counted from the test's start, so a thread another test left running (a
    scheduler's, a relay's) is not taken for one of this test's."""

    def checked_out() -> int:
        connection.close()
        gc.collect()  # a lost connection must not be counted back in by its collection
        stats = connection.pool.get_stats()
        return stats["pool_size"] - stats["pool_available"]

    before = checked_out()
    return lambda: checked_out() - before
