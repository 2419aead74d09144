"""The live side of streams: what wakes a stream up, per process.

- :class:`NatsHub`: one NATS connection per event loop, shared by every stream served on it;
  it keeps reconnecting for as long as the process lives and tells each :class:`Tap` when NATS
  goes and comes back.
- :class:`OutboxListener`: one ``LISTEN duragraph_outbox`` per process (a
  :class:`duragraph_site.db.listen.Listener`), which wakes the streams serving from PostgreSQL
  while NATS is not there; its connection closes once no stream has needed it for
  :data:`LISTENER_IDLE_SECONDS`.
- :class:`Tap`: one stream's feed (events from its NATS subject, or wake-ups from the outbox
  NOTIFY), and its readiness: a stream is *live* once subscribed and caught up from PostgreSQL
  (:meth:`Tap.went_live`); :func:`until_live` waits for that, and ``duragraph_streams_live``
  counts live streams on ``/metrics``.

What a stream does with its feed (catch up, de-duplicate, fill gaps) is :mod:`runs.streams`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings

from duragraph_site.db.listen import Listener
from events.models import OUTBOX_CHANNEL
from runs import metrics as run_metrics
from runs.stream_log import event_from_message

logger = logging.getLogger(__name__)

#: The LISTEN thread closes its connection after this long without a stream needing it.
LISTENER_IDLE_SECONDS = 30.0
#: How often the LISTEN thread looks up from its connection (to go idle).
_LISTEN_TICK_SECONDS = 0.5
#: How long the first stream of a process waits for the shared NATS connection to come up.
NATS_CONNECT_WAIT_SECONDS = 1.0


# -- PostgreSQL wake-ups ---------------------------------------------------------------------
class OutboxListener:
    """One thread per process LISTENing on ``duragraph_outbox`` (NOTIFY'd at every commit that
    appends events) on a dedicated connection; it calls the registered callbacks, which wake the
    streams serving from PostgreSQL. Started on first use, reconnects on its own, and ends (its
    connection closed) once no stream has needed it for :data:`LISTENER_IDLE_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: set[Callable[[], None]] = set()
        self._listener = Listener(
            OUTBOX_CHANNEL,
            name="outbox-wake",
            on_connect=lambda connection: self._notify_all(),  # committed while connecting
            on_wake=self._on_wake,
            tick_seconds=_LISTEN_TICK_SECONDS,
            idle_seconds=LISTENER_IDLE_SECONDS,
            in_use=self._in_use,
        )

    def add(self, callback: Callable[[], None]) -> None:
        """Call *callback* (from the listener thread) after each notification."""
        with self._lock:
            self._callbacks.add(callback)
        # After registering: a listener deciding to end meanwhile sees the callback, or has
        # ended already and this starts a new one.
        self._listener.start()

    def discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.discard(callback)

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread now (tests: its connection must not outlive the test database)."""
        self._listener.stop(timeout)

    def wait_ready(self, timeout: float) -> bool:
        """Whether the thread LISTENs (waiting up to *timeout* seconds for it to connect)."""
        return self._listener.wait_ready(timeout)

    def _in_use(self) -> bool:
        with self._lock:
            return bool(self._callbacks)

    def _on_wake(self, connection: psycopg.Connection, notifies: list[psycopg.Notify]) -> None:
        if notifies:  # one wake-up per burst: the streams read everything anyway
            self._notify_all()

    def _notify_all(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()


outbox_listener = OutboxListener()


# -- NATS ------------------------------------------------------------------------------------
class NatsHub:
    """One NATS connection per event loop, shared by every stream served on that loop.

    It connects in the background and keeps reconnecting for as long as the process lives
    (``max_reconnect_attempts=-1``): streams use it while it is connected and serve from
    PostgreSQL while it is not. Each :class:`Tap` registered here is told when the connection
    drops (go to PostgreSQL) and when it is back (subscribe if needed, then catch up).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: Any = None
        self.taps: set[Tap] = set()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def online(self) -> bool:
        return self.client is not None and self.client.is_connected

    def start(self) -> bool:
        """Start connecting unless already connected or connecting; True if it started now."""
        if self._task is None or (self._task.done() and self.client is None):
            self._task = asyncio.get_running_loop().create_task(self._connect())
            return True
        return False

    async def wait_online(self, timeout: float) -> bool:
        """Whether NATS is usable; waits up to *timeout* only for a connection attempt that
        starts now (the first stream of the loop), never for one already failing."""
        if self.start() and not self.online:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._connected.wait()
        return self.online

    async def _connect(self) -> None:
        import nats

        async def disconnected() -> None:
            self._connected.clear()
            for tap in list(self.taps):
                tap.went_offline()

        async def reconnected() -> None:
            self._connected.set()
            for tap in list(self.taps):
                tap.came_back()  # the client re-subscribed its subscriptions already

        async def closed() -> None:
            self._connected.clear()
            self.client = None
            for tap in list(self.taps):
                tap.went_offline(detached=True)

        async def error(exc: Exception) -> None:
            logger.debug("NATS: %s", exc)

        try:
            client = await nats.connect(
                self.url,
                name="duragraph-streams",
                connect_timeout=1,
                reconnect_time_wait=1,
                max_reconnect_attempts=-1,
                error_cb=error,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                closed_cb=closed,
            )
        except Exception:  # noqa: BLE001 - streams go on from PostgreSQL; retried on next use
            logger.warning("could not connect to NATS at %s", self.url, exc_info=True)
            return
        self.client = client
        self._connected.set()
        for tap in list(self.taps):
            await tap.attach()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, NatsHub] = weakref.WeakKeyDictionary()


def nats_hub() -> NatsHub | None:
    """The running loop's hub, or None when ``NATS_URL`` is not configured."""
    url = getattr(settings, "NATS_URL", "")
    if not url:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.url != url:
        hub = _hubs[loop] = NatsHub(url)
    return hub


#: Queue items besides events: catch up from PostgreSQL now.
RESYNC = object()


# -- readiness -------------------------------------------------------------------------------
@dataclass
class _LiveTaps:
    """The live taps of one event loop by subject, and who waits for one (:func:`until_live`)."""

    live: Counter[str] = field(default_factory=Counter)
    waiters: defaultdict[str, list[asyncio.Future[None]]] = field(
        default_factory=lambda: defaultdict(list)
    )


_live_taps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LiveTaps] = (
    weakref.WeakKeyDictionary()
)


def _taps_of(loop: asyncio.AbstractEventLoop) -> _LiveTaps:
    taps = _live_taps.get(loop)
    if taps is None:
        taps = _live_taps[loop] = _LiveTaps()
    return taps


async def until_live(subject: str, *, timeout: float) -> None:
    """Return once a stream served on this event loop follows *subject* live: subscribed (to
    NATS, or to the outbox NOTIFY without it) and caught up from PostgreSQL, so that every
    event committed from now on reaches it. For code that must not write before a stream
    listens (a live join or a thread stream serves only what comes after it).

    Raises:
        TimeoutError: no such stream within *timeout* seconds.
    """
    loop = asyncio.get_running_loop()
    taps = _taps_of(loop)
    if taps.live[subject]:
        return
    waiter: asyncio.Future[None] = loop.create_future()
    taps.waiters[subject].append(waiter)
    try:
        async with asyncio.timeout(timeout):
            await waiter
    finally:
        with contextlib.suppress(ValueError):
            taps.waiters[subject].remove(waiter)


class Tap:
    """One stream's feed: events from its NATS subject while NATS is up; wake-ups from the
    outbox NOTIFY while it is not; :data:`RESYNC` when the stream must catch up from
    PostgreSQL (NATS came back: what was published meanwhile was missed)."""

    def __init__(self, subject: str, hub: NatsHub | None) -> None:
        self.subject = subject
        self.hub = hub
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscription: Any = None
        self._loop = asyncio.get_running_loop()
        self._listening = False
        self._wake_pending = False
        #: Subscribed and caught up once (:meth:`went_live`).
        self.live = False

    @property
    def online(self) -> bool:
        return self.hub is not None and self.hub.online and self._subscription is not None

    async def __aenter__(self) -> Tap:
        if self.hub is not None:
            self.hub.taps.add(self)
            if await self.hub.wait_online(NATS_CONNECT_WAIT_SECONDS):
                await self.attach()
        if not self.online:
            self.went_offline()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.live:
            self.live = False
            run_metrics.STREAMS_LIVE.dec()
            taps = _taps_of(self._loop)
            taps.live[self.subject] -= 1
            if taps.live[self.subject] <= 0:
                del taps.live[self.subject]
        if self.hub is not None:
            self.hub.taps.discard(self)
        self._stop_listening()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def attach(self) -> None:
        """Subscribe on the hub's (new) client; flushed, so that the server has the interest
        before the stream reads PostgreSQL."""
        assert self.hub is not None
        client = self.hub.client
        if client is None:
            return
        try:
            self._subscription = await client.subscribe(self.subject, cb=self._on_message)
            await client.flush(timeout=1)
        except Exception:  # noqa: BLE001 - stay on PostgreSQL until the next reconnect
            logger.warning("could not subscribe to %s", self.subject, exc_info=True)
            self._subscription = None
            self.went_offline()
            return
        self.came_back()

    def went_live(self) -> None:
        """Called by the stream once it caught up from PostgreSQL after subscribing: from here
        on, every event committed reaches it (the readiness :func:`until_live` waits for, and
        that ``duragraph_streams_live`` counts)."""
        if self.live:
            return
        self.live = True
        run_metrics.STREAMS_LIVE.inc()
        taps = _taps_of(self._loop)
        taps.live[self.subject] += 1
        for waiter in taps.waiters.pop(self.subject, []):
            if not waiter.done():
                waiter.set_result(None)

    def went_offline(self, *, detached: bool = False) -> None:
        if detached:
            self._subscription = None
        if not self._listening:
            self._listening = True
            outbox_listener.add(self._wake_threadsafe)
        self._wake()

    def came_back(self) -> None:
        self._stop_listening()
        self.queue.put_nowait(RESYNC)

    def _stop_listening(self) -> None:
        if self._listening:
            self._listening = False
            outbox_listener.discard(self._wake_threadsafe)

    async def _on_message(self, message: Any) -> None:
        event = event_from_message(message.data)
        if event is not None:
            self.queue.put_nowait(event)

    def _wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            self.queue.put_nowait(RESYNC)

    def _wake_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the stream is gone
            self._loop.call_soon_threadsafe(self._wake)

    async def next(self, timeout: float) -> Any:
        """The next event or :data:`RESYNC`; None after *timeout* seconds of nothing."""
        try:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes with
            # an event (the stream would outlive its client; docs/streaming.md).
            async with asyncio.timeout(timeout):
                item = await self.queue.get()
        except TimeoutError:
            return None
        if item is RESYNC:
            self._wake_pending = False
        return item
