"""The event store on real PostgreSQL: append/load, optimistic concurrency, immutability, NOTIFY."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from duragraph_site.errors import ConcurrencyError
from events import store
from events.domain import DomainEvent
from events.models import OUTBOX_CHANNEL, Event, Outbox
from events.testing import capture_outbox

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class SomethingHappened(DomainEvent):
    n: int


def a_stream() -> store.Stream:
    stream_id = uuid.uuid4()
    return store.Stream(type="test", id=stream_id, subject=f"duragraph.test.{stream_id}")


def libpq_conninfo() -> str:
    settings = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )


@pytest.mark.django_db
class TestAppendAndLoad:
    def test_append_writes_events_and_their_outbox_rows(self):
        stream = a_stream()
        with transaction.atomic(), capture_outbox(expected=3) as outbox:
            recorded = store.append(
                stream,
                expected_version=0,
                events=[SomethingHappened(n=i) for i in range(3)],
                now=NOW,
                metadata={"worker_id": "w1"},
            )
        assert [r.version for r in recorded] == [1, 2, 3]
        assert all(r.at == NOW for r in recorded)
        assert [row.subject for row in outbox.rows] == [stream.subject] * 3
        assert [row.event.version for row in outbox.rows] == [1, 2, 3]
        assert all(row.published_at is None and row.attempts == 0 for row in outbox.rows)

        loaded = store.load(stream.id)
        assert [(e.version, e.type, e.payload) for e in loaded] == [
            (i + 1, "SomethingHappened", {"n": i}) for i in range(3)
        ]
        assert loaded[0].metadata == {"worker_id": "w1"}
        assert loaded[0].created_at == NOW
        assert [e.version for e in store.load(stream.id, after_version=2)] == [3]
        assert store.stream_version(stream.id) == 3
        assert store.stream_version(uuid.uuid4()) == 0

    def test_append_is_one_query(self, django_assert_num_queries):
        stream = a_stream()
        with transaction.atomic():
            with django_assert_num_queries(1):
                store.append(
                    stream,
                    expected_version=0,
                    events=[SomethingHappened(n=1), SomethingHappened(n=2)],
                    now=NOW,
                )

    def test_a_stale_expected_version_is_a_concurrency_error_and_rolls_back(self):
        stream = a_stream()
        with transaction.atomic():
            store.append(stream, expected_version=0, events=[SomethingHappened(n=1)], now=NOW)
        before = (Event.objects.count(), Outbox.objects.count())
        with pytest.raises(ConcurrencyError) as caught, transaction.atomic():
            store.append(
                stream,
                expected_version=0,
                events=[SomethingHappened(n=2), SomethingHappened(n=3)],
                now=NOW,
            )
        assert caught.value.expected_version == 0
        assert caught.value.status_code == 409
        assert (Event.objects.count(), Outbox.objects.count()) == before
        assert [e.payload["n"] for e in store.load(stream.id)] == [1]

    def test_bound_context_lands_in_metadata(self):
        from events import context

        stream = a_stream()
        with context.bound(actor="user:7", request_id="r-1"), transaction.atomic():
            store.append(
                stream,
                expected_version=0,
                events=[SomethingHappened(n=1)],
                now=NOW,
                metadata={"lease_epoch": 3},
            )
        assert store.load(stream.id)[0].metadata == {
            "actor": "user:7",
            "request_id": "r-1",
            "lease_epoch": 3,
        }


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_exactly_one_wins():
    """Both decide at version 0; the second blocks on the first's uncommitted row, then loses."""
    stream = a_stream()
    first_appended = threading.Event()
    outcomes: dict[str, object] = {}

    def writer(name: str, hold: bool) -> None:
        try:
            with transaction.atomic():
                store.append(
                    stream,
                    expected_version=0,
                    events=[SomethingHappened(n=1 if hold else 2)],
                    now=NOW,
                )
                # A read-model write in the same transaction, which must vanish with the loser.
                Outbox.objects.filter(pk=-1).exists()
                if hold:
                    first_appended.set()
                    threading.Event().wait(0.3)  # keep the transaction open while the other writes
            outcomes[name] = "committed"
        except ConcurrencyError as error:
            outcomes[name] = error
        finally:
            connection.close()

    first = threading.Thread(target=writer, args=("first", True))
    first.start()
    assert first_appended.wait(5)
    second = threading.Thread(target=writer, args=("second", False))
    second.start()
    first.join(10)
    second.join(10)

    assert outcomes["first"] == "committed"
    assert isinstance(outcomes["second"], ConcurrencyError)
    events = store.load(stream.id)
    assert [(e.version, e.payload["n"]) for e in events] == [(1, 1)]
    assert Outbox.objects.filter(event_id__in=[e.id for e in events]).count() == 1


@pytest.mark.django_db
class TestImmutability:
    """PostgreSQL itself refuses to change the log, whatever the client."""

    @pytest.fixture
    def event(self):
        with transaction.atomic():
            store.append(a_stream(), expected_version=0, events=[SomethingHappened(n=1)], now=NOW)
        return Event.objects.latest("id")

    @pytest.mark.parametrize(
        ("sql", "message"),
        [
            ("UPDATE events_event SET type = 'Forged' WHERE id = %s", "Cannot update or delete"),
            ("UPDATE events_event SET payload = '{}'::jsonb", "Cannot update or delete"),
            ("DELETE FROM events_event WHERE id = %s", "Cannot update or delete"),
            ("DELETE FROM events_event", "Cannot update or delete"),
            ("TRUNCATE events_event CASCADE", "Cannot truncate"),
        ],
    )
    def test_raw_sql_cannot_change_events(self, event, sql, message):
        with (
            pytest.raises(DatabaseError, match=message),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.id] if "%s" in sql else [])
        assert Event.objects.get(id=event.id).type == "SomethingHappened"

    def test_the_orm_cannot_change_events_either(self, event):
        for change in (
            lambda: Event.objects.filter(id=event.id).update(type="Forged"),
            lambda: Event.objects.filter(id=event.id).delete(),
            lambda: event.save(),
        ):
            with pytest.raises(DatabaseError), transaction.atomic():
                change()
        assert Event.objects.filter(id=event.id, type="SomethingHappened").exists()

    def test_a_fresh_migrate_installed_every_trigger(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'pgtrigger_%%'"
            )
            triggers = {(table, name.split("_")[1]) for table, name in cursor.fetchall()}
        assert {
            ("events_event", "append"),
            ("events_event", "no"),
            ("events_outbox", "notify"),
        } <= triggers


@pytest.mark.django_db(transaction=True)
def test_notify_reaches_listeners_only_on_commit():
    with psycopg.connect(libpq_conninfo(), autocommit=True) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        with transaction.atomic():
            store.append(a_stream(), expected_version=0, events=[SomethingHappened(n=1)], now=NOW)
            assert list(listener.notifies(timeout=0.2, stop_after=1)) == []
        received = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in received] == [OUTBOX_CHANNEL]

        with pytest.raises(RuntimeError), transaction.atomic():
            store.append(a_stream(), expected_version=0, events=[SomethingHappened(n=2)], now=NOW)
            raise RuntimeError("roll back")
        assert list(listener.notifies(timeout=0.3, stop_after=1)) == []
