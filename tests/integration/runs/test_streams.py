"""Run and thread streams over real PostgreSQL (and, for the NATS path, a real nats-server).

Events are written by the run services from worker threads while a stream follows them, as an
executor would; the stream reads through its own pooled connections, so the tests commit
(``transaction=True``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from duragraph_site.db.connections import released
from events import store
from runs import domain, live, services, streams
from runs.frames import Frame, parse_last_event_id

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 20


@pytest.fixture(autouse=True)
def _listener_stopped():
    """The LISTEN thread's connection must not outlive the test database."""
    yield
    live.outbox_listener.stop()


@pytest.fixture
def no_nats(settings):
    settings.NATS_URL = ""


@pytest.fixture
def quick(monkeypatch):
    """Without NATS a stream waits on LISTEN; its safety poll is not what these tests measure."""
    monkeypatch.setattr(streams, "POLL_OFFLINE_SECONDS", 30.0)
    monkeypatch.setattr(streams, "HEARTBEAT_SECONDS", 0.3)


def create(thread, assistant, modes=("values",)) -> Any:
    return services.run_create(
        thread_id=thread.thread_id,
        assistant_id=assistant.assistant_id,
        kwargs={"stream_mode": list(modes)},
    )


class Worker:
    """Writes a run's events as the executor does (each call from a worker thread)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.claim: Any = None

    def start(self) -> None:
        with released():
            self.claim = services.run_start(run_id=self.run.run_id, worker_id="test-worker")

    def chunk(self, mode: str, data: Any, namespace: list[str] | None = None) -> None:
        with released():
            services.run_record_output(
                run_id=self.run.run_id,
                thread_id=self.run.thread_id,
                lease_epoch=self.claim.lease_epoch,
                events=[domain.RunOutputStreamed(mode=mode, namespace=namespace or [], data=data)],
            )

    def complete(self, output: Any = None) -> None:
        with released():
            services.run_complete(
                run_id=self.run.run_id, lease_epoch=self.claim.lease_epoch, output=output
            )

    def fail(self) -> None:
        with released():
            services.run_fail(
                run_id=self.run.run_id,
                lease_epoch=self.claim.lease_epoch,
                error="ValueError",
                message="boom",
            )


async def collect(frames: AsyncIterator[Frame | None], *, until: int | None = None) -> list[Frame]:
    """The frames (heartbeats dropped) until the stream ends, or until *until* frames."""
    got: list[Frame] = []

    async def run() -> None:
        async for frame in frames:
            if frame is not None:
                got.append(frame)
                if until is not None and len(got) >= until:
                    return

    try:
        await asyncio.wait_for(run(), TIMEOUT)
    finally:
        await frames.aclose()
    return got


async def in_thread(*steps: Callable[[], None]) -> None:
    for step in steps:
        await asyncio.to_thread(step)


def run_subject(run: Any) -> str:
    return f"duragraph.threads.{run.thread_id}.runs.{run.run_id}"


async def until_live(subject: str) -> None:
    """The stream on *subject* subscribed and caught up: what is written from now on is live."""
    await live.until_live(subject, timeout=TIMEOUT)


def summary(frames: list[Frame]) -> list[tuple[str, Any, str]]:
    return [(f.event, f.data, f.id) for f in frames]


def test_a_finished_run_replays_from_the_log_and_ends(no_nats, thread, assistant):
    run = create(thread, assistant, modes=["values", "custom"])
    worker = Worker(run)
    worker.start()
    worker.chunk("values", {"n": 1})
    worker.chunk("updates", {"node": {}})  # recorded, not asked for
    worker.chunk("custom", "hello")
    worker.complete({"n": 1})

    frames = asyncio.run(collect(streams.run_stream(run.run_id)))
    assert summary(frames) == [
        ("metadata", {"run_id": str(run.run_id), "attempt": 1}, "2"),
        ("values", {"n": 1}, "3"),
        ("custom", "hello", "5"),
    ]
    # Resuming after any frame gives exactly the rest.
    for index, frame in enumerate(frames):
        after = parse_last_event_id(frame.id)
        rest = asyncio.run(collect(streams.run_stream(run.run_id, last_event_id=after)))
        assert rest == frames[index + 1 :]
    # A join without Last-Event-ID on an ended run: nothing (LangGraph: an empty stream).
    assert asyncio.run(collect(streams.run_stream(run.run_id, live=True))) == []


def test_live_without_nats_listen_wakes_the_stream(no_nats, quick, thread, assistant):
    """Events committed while the stream waits reach it through the outbox NOTIFY: in order,
    each once, and it ends with the run (the safety poll is 30 s: LISTEN did it)."""
    run = create(thread, assistant, modes=["values"])
    worker = Worker(run)

    async def go() -> list[Frame]:
        stream = asyncio.ensure_future(collect(streams.run_stream(run.run_id)))
        await until_live(run_subject(run))
        await in_thread(
            worker.start,
            lambda: worker.chunk("values", {"n": 1}),
            lambda: worker.chunk("values", {"n": 2}),
            worker.fail,
        )
        return await stream

    frames = asyncio.run(go())
    assert summary(frames) == [
        ("metadata", {"run_id": str(run.run_id), "attempt": 1}, "2"),
        ("values", {"n": 1}, "3"),
        ("values", {"n": 2}, "4"),
        ("error", {"error": "ValueError", "message": "boom"}, "5"),
    ]


def test_a_live_join_gets_the_attempt_then_every_later_event(no_nats, quick, thread, assistant):
    run = create(thread, assistant, modes=["values"])
    worker = Worker(run)
    worker.start()
    worker.chunk("values", {"n": 1})

    async def go() -> list[Frame]:
        stream = asyncio.ensure_future(collect(streams.run_stream(run.run_id, live=True)))
        await until_live(run_subject(run))  # joined at version 3: what comes next is live
        await in_thread(lambda: worker.chunk("values", {"n": 2}), worker.complete)
        return await stream

    assert summary(asyncio.run(go())) == [
        ("metadata", {"run_id": str(run.run_id), "attempt": 1}, "2"),
        ("values", {"n": 2}, "4"),
    ]


def test_heartbeats_while_idle(no_nats, quick, thread, assistant):
    run = create(thread, assistant)

    async def go() -> list[Frame | None]:
        items = []
        stream = streams.run_stream(run.run_id)
        try:
            async for item in stream:
                items.append(item)
                if len(items) == 2:
                    break
        finally:
            await stream.aclose()
        return items

    assert asyncio.run(asyncio.wait_for(go(), TIMEOUT)) == [None, None]


def test_thread_stream_follows_each_run_and_resumes_by_event_id(no_nats, quick, thread, assistant):
    first = create(thread, assistant, modes=["values"])

    async def go() -> list[Frame]:
        stream = asyncio.ensure_future(collect(streams.thread_stream(thread.thread_id), until=6))
        await until_live(f"duragraph.threads.{thread.thread_id}.runs.*")  # live only
        worker = Worker(first)
        await in_thread(worker.start, lambda: worker.chunk("values", {"run": 1}), worker.complete)
        second = await asyncio.to_thread(create, thread, assistant, ["custom"])
        worker = Worker(second)
        await in_thread(worker.start, lambda: worker.chunk("custom", "two"), worker.fail)
        return await stream

    frames = asyncio.run(go())
    assert [
        (f.event, f.data.get("status") if isinstance(f.data, dict) else f.data) for f in frames
    ] == [
        ("metadata", None),
        ("values", None),
        ("metadata", "run_done"),
        ("metadata", None),
        ("custom", "two"),
        ("error", None),
    ]
    ids = [int(f.id.split(".")[0]) for f in frames]
    assert ids == sorted(ids)
    # Resume after the first run's end: the second run, then its run_done.
    resumed = asyncio.run(
        collect(
            streams.thread_stream(
                thread.thread_id, last_event_id=parse_last_event_id(frames[2].id)
            ),
            until=4,
        )
    )
    assert resumed[:3] == frames[3:]
    assert resumed[3].data["status"] == "run_done" and resumed[3].id.isdigit()
    assert resumed[2].id == f"{resumed[3].id}.0", "error and run_done come from one event"


def test_unreachable_nats_falls_back_to_postgres(settings, quick, monkeypatch, thread, assistant):
    settings.NATS_URL = "nats://127.0.0.1:9"  # nothing listens there
    monkeypatch.setattr(live, "NATS_CONNECT_WAIT_SECONDS", 0.2)
    run = create(thread, assistant, modes=["values"])
    worker = Worker(run)

    async def go() -> list[Frame]:
        stream = asyncio.ensure_future(collect(streams.run_stream(run.run_id)))
        await until_live(run_subject(run))  # on PostgreSQL: NATS did not answer
        await in_thread(worker.start, lambda: worker.chunk("values", {"n": 1}), worker.complete)
        return await stream

    assert [f.event for f in asyncio.run(go())] == ["metadata", "values"]


# -- the NATS path ---------------------------------------------------------------------------
@pytest.fixture
def nats_url(tmp_path):
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    from duragraph_site.embedded import EmbeddedNats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the child's log file handle
        server = EmbeddedNats.start(tmp_path / "nats", preferred_port=None)
    try:
        yield server.url
    finally:
        server.stop()


def _message(event: store.StoredEvent) -> bytes:
    """What the relay publishes for *event* (docs/streaming.md)."""
    return orjson.dumps(
        {
            "id": event.id,
            "stream_type": event.stream_type,
            "stream_id": str(event.stream_id),
            "version": event.version,
            "type": event.type,
            "payload": event.payload,
            "metadata": event.metadata,
            "created_at": event.created_at.isoformat(),
        }
    )


def test_nats_messages_duplicates_and_gaps(settings, monkeypatch, nats_url, thread, assistant):
    """A stand-in relay publishes some events twice, skips one and sends one out of order: the
    stream serves each version once, in order (the gap read from PostgreSQL), promptly (the
    safety poll is set to a minute, so NATS and the gap fetch did it)."""
    import nats

    settings.NATS_URL = nats_url
    monkeypatch.setattr(streams, "POLL_ONLINE_SECONDS", 60.0)
    monkeypatch.setattr(streams, "HEARTBEAT_SECONDS", 60.0)
    run = create(thread, assistant, modes=["values"])
    worker = Worker(run)
    subject = run_subject(run)

    async def go() -> list[Frame]:
        publisher = await nats.connect(nats_url)
        stream = asyncio.ensure_future(collect(streams.run_stream(run.run_id)))
        await until_live(subject)  # subscribed and caught up (version 1)
        await asyncio.to_thread(worker.start)
        for n in (1, 2, 3):
            await asyncio.to_thread(worker.chunk, "values", {"n": n})
        await asyncio.to_thread(worker.complete)
        events = {e.version: e for e in await asyncio.to_thread(_load, run.run_id)}
        # 2, 2 again, 3, then 5 (4 is missing: fetched from PostgreSQL), 3 late, 6 (the end).
        for version in (2, 2, 3, 5, 3, 6):
            await publisher.publish(subject, _message(events[version]))
        await publisher.flush()
        try:
            return await stream
        finally:
            await publisher.close()

    frames = asyncio.run(go())
    assert summary(frames) == [
        ("metadata", {"run_id": str(run.run_id), "attempt": 1}, "2"),
        ("values", {"n": 1}, "3"),
        ("values", {"n": 2}, "4"),
        ("values", {"n": 3}, "5"),
    ]


def _load(run_id: uuid.UUID) -> list[store.StoredEvent]:
    with released():
        return store.load(run_id)
