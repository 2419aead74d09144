"""The outbox relay against real PostgreSQL and a real NATS JetStream (docs/streaming.md).

Every test commits (``transaction=True``): the relay reads the outbox through its own
connections, as in production.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, transaction
from django.utils import timezone
from prometheus_client import REGISTRY, generate_latest

from duragraph_site.db.listen import conninfo
from events import metrics, relay, store
from events.domain import DomainEvent
from events.models import Event, Outbox
from runs import services as run_services
from runs.domain import RunOutputStreamed
from tests.jetstream import count, messages, with_jetstream

pytestmark = pytest.mark.django_db(transaction=True)

#: A relay that notices trouble within a second (the defaults are for production).
FAST = {
    "publish_timeout_seconds": 1.0,
    "connect_timeout_seconds": 0.5,
    "backoff_max_seconds": 0.5,
    "poll_seconds": 0.2,
}
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


class Pinged(DomainEvent):
    n: int


class Blobbed(DomainEvent):
    data: str


def append(
    count: int, *, subject: str | None = None, now: datetime | None = None, event=None
) -> store.Stream:
    """A new stream of *count* events, committed."""
    stream_id = uuid.uuid4()
    stream = store.Stream(
        type="test", id=stream_id, subject=subject or f"duragraph.test.{stream_id}"
    )
    events = [event(i) if event else Pinged(n=i) for i in range(count)]
    with transaction.atomic():
        store.append(stream, expected_version=0, events=events, now=now or timezone.now())
    return stream


def rows_of(stream: store.Stream) -> list[Outbox]:
    return list(Outbox.objects.filter(subject=stream.subject).order_by("id"))


def relay_once(nats_url: str, **config: Any) -> relay.RelayStats:
    return relay.run(nats_url=nats_url, once=True, **config)


def wait_until(condition: Callable[[], bool], *, timeout: float = 20, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RelayThread:
    """A relay running in a thread until :meth:`stop` (as ``manage.py relay_outbox`` runs)."""

    def __init__(self, nats_url: str, **config: Any) -> None:
        self._stop = threading.Event()
        self.stats: relay.RelayStats | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(nats_url, config), daemon=True)
        self._thread.start()

    def _run(self, nats_url: str, config: dict[str, Any]) -> None:
        try:
            self.stats = relay.run(nats_url=nats_url, stop=self._stop, **config)
        except BaseException as error:  # surfaced by stop()
            self.error = error

    def stop(self) -> relay.RelayStats:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the relay did not stop"
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats


# -- publishing ------------------------------------------------------------------------------
def test_events_from_services_reach_nats_with_subject_body_and_msg_id(nats_url, assistant, thread):
    stats = relay_once(nats_url)

    rows = list(Outbox.objects.order_by("id"))
    events = {e.id: e for e in Event.objects.all()}
    assert rows and stats.published == len(rows) and stats.failed == 0
    assert all(r.published_at is not None and r.attempts == 1 for r in rows)
    subjects = {r.subject for r in rows}
    assert subjects == {
        f"duragraph.assistants.{assistant.assistant_id}",
        f"duragraph.threads.{thread.thread_id}",
    }
    for subject in subjects:
        expected = [events[r.event_id] for r in rows if r.subject == subject]
        published = messages(nats_url, subject)
        assert [m.headers["Nats-Msg-Id"] for m in published] == [str(e.id) for e in expected]
        for message, event in zip(published, expected, strict=True):
            body = json.loads(message.data)
            assert CREATED_AT.match(body["created_at"])
            assert datetime.fromisoformat(body.pop("created_at")) == event.created_at
            assert body == {
                "id": event.id,
                "stream_type": event.stream_type,
                "stream_id": str(event.stream_id),
                "version": event.version,
                "type": event.type,
                "payload": event.payload,
                "metadata": event.metadata,
            }


def test_the_stream_is_created_as_the_contract_says_and_kept_on_restart(nats_url):
    relay_once(nats_url)
    relay_once(nats_url)  # a second start finds it and changes nothing

    async def info(js):
        return await js.stream_info(relay.STREAM_NAME)

    config = with_jetstream(nats_url, info).config
    assert config.subjects == [relay.STREAM_SUBJECTS]
    assert config.duplicate_window >= 120
    assert config.storage == "file"


def test_an_existing_stream_keeps_its_settings_and_gains_what_the_contract_needs(own_nats):
    async def create(js):
        await js.add_stream(
            name=relay.STREAM_NAME, subjects=["audit.>"], duplicate_window=30, max_msgs=1000
        )

    with_jetstream(own_nats.url, create)
    relay_once(own_nats.url)

    async def info(js):
        return await js.stream_info(relay.STREAM_NAME)

    config = with_jetstream(own_nats.url, info).config
    assert config.subjects == ["audit.>", relay.STREAM_SUBJECTS]
    assert config.duplicate_window == 120
    assert config.max_msgs == 1000  # the operator's choice stays


def test_jetstream_drops_a_message_published_again_with_the_same_event_id(nats_url):
    stream = append(3)
    relay_once(nats_url)
    assert count(nats_url, stream.subject) == 3

    # Directly: the second publication of one id is acknowledged as a duplicate, not stored.
    async def publish_twice(js):
        headers = {"Nats-Msg-Id": f"dedup-{uuid.uuid4()}"}
        first = await js.publish(stream.subject, b"{}", headers=dict(headers))
        second = await js.publish(stream.subject, b"{}", headers=dict(headers))
        return first, second

    first, second = with_jetstream(nats_url, publish_twice)
    assert not first.duplicate and second.duplicate and second.seq == first.seq
    assert count(nats_url, stream.subject) == 3 + 1

    # Through the relay: a relay that died after publishing, before its commit, left the rows
    # unpublished; the next one publishes them again and JetStream keeps one copy of each.
    Outbox.objects.update(published_at=None)
    stats = relay_once(nats_url)
    assert stats.published == 3 and stats.duplicates == 3
    assert count(nats_url, stream.subject) == 3 + 1
    assert [r.attempts for r in rows_of(stream)] == [2, 2, 2]


# -- several relays --------------------------------------------------------------------------
def test_a_relay_skips_rows_another_relay_holds(nats_url):
    stream = append(10)
    ids = [r.id for r in rows_of(stream)]
    # Another relay in the middle of its batch: it holds the first four rows.
    with psycopg.connect(conninfo()) as other:
        other.execute("SELECT id FROM events_outbox WHERE id = ANY(%s) FOR UPDATE", [ids[:4]])
        stats = relay_once(nats_url)
        assert stats.published == 6
        pending = Outbox.objects.filter(published_at__isnull=True).order_by("id")
        assert [r.id for r in pending] == ids[:4]
    assert relay_once(nats_url).published == 4
    assert count(nats_url, stream.subject) == 10


def test_relays_in_parallel_publish_every_row_exactly_once(nats_url):
    streams = [append(500) for _ in range(6)]
    results: list[relay.RelayStats] = []

    def one_relay() -> None:
        results.append(relay_once(nats_url, batch_size=50))

    relays = [threading.Thread(target=one_relay) for _ in range(4)]
    for t in relays:
        t.start()
    for t in relays:
        t.join(60)

    assert len(results) == 4
    assert sum(r.published for r in results) == 3000
    assert sum(r.failed for r in results) == 0
    # attempts == 1 everywhere: no row was published by two relays
    assert set(Outbox.objects.values_list("attempts", flat=True)) == {1}
    assert not Outbox.objects.filter(published_at__isnull=True).exists()
    for stream in streams:
        published = messages(nats_url, stream.subject)
        assert len({m.headers["Nats-Msg-Id"] for m in published}) == len(published) == 500


# -- failures --------------------------------------------------------------------------------
def nats_unavailable_logged(caplog: pytest.LogCaptureFixture) -> int:
    """How many times the relay logged a failed attempt to reach NATS."""
    return sum("NATS unavailable" in record.getMessage() for record in caplog.records)


def test_nats_outage_loses_nothing_and_the_relay_catches_up(own_nats, caplog):
    caplog.set_level(logging.WARNING, logger="events.relay")
    running = RelayThread(own_nats.url, **FAST)
    try:
        before = append(20)
        wait_until(lambda: all(r.published_at for r in rows_of(before)), what="the first events")

        # A hung server: the batch gets no acknowledgement; its rows say so and stay pending.
        own_nats.freeze()
        hung = append(30)
        wait_until(
            lambda: all(r.attempts >= 1 and r.last_error for r in rows_of(hung)),
            what="the failed attempts to be recorded",
        )
        assert all(r.published_at is None for r in rows_of(hung))
        assert "acknowledgement" in rows_of(hung)[0].last_error

        # A dead server: writes go on, rows wait in PostgreSQL.
        own_nats.kill()
        down = append(30)
        tries = nats_unavailable_logged(caplog)
        wait_until(
            lambda: nats_unavailable_logged(caplog) > tries,
            what="the relay to try NATS again (and fail) after those writes",
        )
        assert Outbox.objects.filter(published_at__isnull=True).count() == 60
        assert Event.objects.count() == 80

        own_nats.start()  # same port, same store
        wait_until(
            lambda: not Outbox.objects.filter(published_at__isnull=True).exists(),
            timeout=30,
            what="the relay to catch up",
        )
    finally:
        stats = running.stop()
    assert stats.backoffs >= 1
    for stream, size in ((before, 20), (hung, 30), (down, 30)):
        published = messages(own_nats.url, stream.subject)
        ids = [m.headers["Nats-Msg-Id"] for m in published]
        assert len(set(ids)) == len(ids) == size
        assert set(ids) == {str(r.event_id) for r in rows_of(stream)}


def test_a_message_nats_refuses_does_not_block_the_others(nats_url):
    # Two messages NATS cannot take, at the head of the outbox: one larger than the server's
    # max_payload (1 MB by default), one on a subject outside the stream.
    too_big = append(1, event=lambda i: Blobbed(data="x" * 1_100_000))
    astray = append(1, subject="elsewhere.entirely")
    good = append(5)

    stats = relay_once(nats_url, batch_size=2, slow_retry_after=2)

    assert stats.published == 5
    assert all(r.published_at for r in rows_of(good))
    assert count(nats_url, good.subject) == 5
    (big_row,) = rows_of(too_big)
    (astray_row,) = rows_of(astray)
    assert big_row.published_at is None and "max_payload" in big_row.last_error
    assert astray_row.published_at is None and "outside" in astray_row.last_error
    assert big_row.attempts >= 2 and astray_row.attempts >= 2  # then left to the slow pass

    # Full batches of refused rows no longer stand in the way of new events.
    later = append(3)
    assert relay_once(nats_url, batch_size=2, slow_retry_after=2).published == 3
    assert count(nats_url, later.subject) == 3


def test_retention_prunes_only_delivered_rows_older_than_the_period(nats_url):
    stream = append(4)
    relay_once(nats_url)
    ids = [r.id for r in rows_of(stream)]
    long_ago = timezone.now() - timedelta(hours=2)
    Outbox.objects.filter(id__in=ids[:2]).update(published_at=long_ago)
    # An old row that is still pending (NATS refuses it) is never pruned.
    stuck = append(1, subject="elsewhere.entirely", now=long_ago)

    stats = relay_once(nats_url, retention_seconds=3600)

    assert stats.pruned == 2
    assert set(Outbox.objects.values_list("id", flat=True)) == {
        *ids[2:],
        *(r.id for r in rows_of(stuck)),
    }
    assert Event.objects.count() == 5  # events are never deleted


# -- metrics ---------------------------------------------------------------------------------
def sample(name: str, labels: dict[str, str] | None = None) -> float:
    metrics.OUTBOX_BACKLOG.invalidate()
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_outbox_metrics_follow_the_backlog_and_the_relay(nats_url, client):
    appended = {"stream_type": "test", "type": "Pinged"}
    appended_before = sample("duragraph_events_appended_total", appended)
    published_before = sample("duragraph_relay_published_total")
    assert sample("duragraph_outbox_pending") == 0
    assert sample("duragraph_relay_lag_seconds") == 0

    append(4, now=timezone.now() - timedelta(seconds=30))
    assert sample("duragraph_events_appended_total", appended) == appended_before + 4
    assert sample("duragraph_outbox_pending") == 4
    assert 30 <= sample("duragraph_relay_lag_seconds") < 120
    metrics.OUTBOX_BACKLOG.invalidate()
    scraped = client.get("/metrics").content.decode()
    assert re.search(r"^duragraph_outbox_pending 4\.0$", scraped, re.MULTILINE)

    relay_once(nats_url)
    assert sample("duragraph_outbox_pending") == 0
    assert sample("duragraph_relay_lag_seconds") == 0
    assert sample("duragraph_relay_published_total") == published_before + 4


def test_a_rolled_back_append_is_not_counted():
    appended = {"stream_type": "test", "type": "Pinged"}
    before = sample("duragraph_events_appended_total", appended)
    with pytest.raises(RuntimeError), transaction.atomic():
        append(3)
        raise RuntimeError("changed my mind")
    assert sample("duragraph_events_appended_total", appended) == before


def test_the_run_statements_count_their_events(assistant, thread):
    run = run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    started = {"stream_type": "run", "type": "RunStarted"}
    streamed = {"stream_type": "run", "type": "RunOutputStreamed"}
    started_before = sample("duragraph_events_appended_total", started)
    streamed_before = sample("duragraph_events_appended_total", streamed)

    (claim,) = run_services.runs_claim(worker_id="metrics-worker")
    run_services.run_record_output(
        run_id=run.run_id,
        thread_id=thread.thread_id,
        lease_epoch=claim.lease_epoch,
        events=[RunOutputStreamed(mode="custom", data={"n": n}) for n in range(2)],
    )

    assert sample("duragraph_events_appended_total", started) == started_before + 1
    assert sample("duragraph_events_appended_total", streamed) == streamed_before + 2


def test_the_backlog_gauges_are_left_out_when_the_database_fails(monkeypatch):
    def unreachable() -> metrics.Backlog:
        raise OperationalError("connection refused")

    monkeypatch.setattr(metrics, "outbox_backlog", unreachable)
    metrics.OUTBOX_BACKLOG.invalidate()
    scraped = generate_latest(REGISTRY).decode()  # does not raise
    assert "duragraph_outbox_pending" not in scraped
    assert "duragraph_events_appended_total" in scraped or "duragraph_events_appended" in scraped
    metrics.OUTBOX_BACKLOG.invalidate()


# -- the command -----------------------------------------------------------------------------
def test_the_command_drains_the_outbox_with_once(nats_url, capsys):
    stream = append(7)
    call_command("relay_outbox", "--once", "--batch-size", "3", nats_url=nats_url)
    assert "published 7 outbox row(s) in 3 batch(es)" in capsys.readouterr().out
    assert count(nats_url, stream.subject) == 7


def test_the_command_needs_a_nats_url():
    with pytest.raises(CommandError, match="NATS_URL"):
        call_command("relay_outbox", "--once", nats_url="")
