"""The outbox relay: drains ``events_outbox`` into NATS JetStream (``manage.py relay_outbox``).

``docs/streaming.md`` is the contract (stream ``DURAGRAPH`` on ``duragraph.>``, one message per
outbox row on the row's subject, ``Nats-Msg-Id`` = event id, the event as JSON). This module
keeps it:

1. **Claim** a batch of unpublished rows in one statement with ``FOR UPDATE SKIP LOCKED``
   (``events/sql/queries.sql``: ``claim_outbox``), so several relays drain in parallel and never
   hold the same row.
2. **Publish** the whole batch pipelined (``js.publish_async``: every message is written before
   the first acknowledgement is awaited), each with ``Nats-Msg-Id`` set to the event id.
3. **Mark** every row in the transaction that still holds the locks (``mark_outbox``):
   acknowledged rows get ``published_at``, failed rows ``attempts + 1`` and ``last_error``.
   A relay that dies before this commit only releases its locks; the rows are published again
   and JetStream drops the duplicates by message id (duplicate window >= 2 minutes). At least
   once to NATS, exactly once in effect.

Failures. A failure that says NATS or JetStream cannot take messages (connection lost, no ack
in time, no stream answering) is recorded on the rows of that batch, then the relay closes the
connection and reconnects with exponential backoff (0.1 s doubling to 10 s), logging each try,
and claims nothing meanwhile: rows wait in PostgreSQL, nothing is dropped. A failure that is the
message's own (larger than the server's max payload, a subject outside the stream, a JetStream
API error about it) is recorded on that row only; the rest of the batch is published. A row that
failed ``DURAGRAPH_OUTBOX_SLOW_RETRY_AFTER`` times leaves the main pass for a slow pass (one
batch every 30 s), so that messages NATS keeps refusing can never fill every batch; it stays
unpublished (counted by ``duragraph_outbox_struggling``) until NATS accepts it.

Wake-ups. A dedicated connection LISTENs on ``duragraph_outbox`` (the outbox's statement
trigger NOTIFYs at commit); a safety poll runs every second anyway, and a full batch is followed
at once by the next. Delivered rows older than ``DURAGRAPH_OUTBOX_RETENTION_SECONDS`` are pruned
every minute (the events themselves are never deleted).

Database access: psycopg ``AsyncConnection``\\ s built from Django's connection parameters, not
Django's connection through ``sync_to_async``. The claim, the publishes and the mark must share
one transaction (its row locks are what keep other relays off the rows) while the publishes are
asyncio; on Django's connection that transaction would span a thread hop per statement and hold
a pooled connection across awaits. One async connection keeps a batch on the event loop: claim,
publish, mark, commit, with no thread in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
import psycopg
import psycopg.conninfo
from django.conf import settings
from django.db import connection
from nats.js import api as js_api

from events import metrics
from events.models import OUTBOX_CHANNEL
from events.sql import queries

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js.client import JetStreamContext

logger = logging.getLogger(__name__)

#: The JetStream stream every DuraGraph subject belongs to (docs/streaming.md).
STREAM_NAME = "DURAGRAPH"
STREAM_SUBJECTS = "duragraph.>"
SUBJECT_PREFIX = "duragraph."

#: Errors that say NATS or JetStream cannot take messages now, whatever the message: back off.
NATS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.FlushTimeoutError,
    nats.js.errors.NoStreamResponseError,  # the stream is gone: recreated on reconnect
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    nats.js.errors.TooManyStalledMsgsError,
    asyncio.TimeoutError,  # includes nats.errors.TimeoutError
    OSError,
)
#: Errors about one message (anything else from nats-py falls here too, e.g. a JetStream API
#: error naming the message): recorded on its row, the batch goes on.
MESSAGE_REFUSED: tuple[type[BaseException], ...] = (nats.errors.Error,)

_SLOW_PASS_ATTEMPTS_CEILING = 2**31 - 1  # events_outbox.attempts is an integer column


@dataclass(frozen=True)
class RelayConfig:
    """How a relay runs. :meth:`from_settings` fills what is not given from Django settings.

    Raises:
        ValueError: a value is out of range; the message names the field.
    """

    nats_url: str
    batch_size: int = 500
    #: Delivered rows older than this are deleted (seconds).
    retention_seconds: float = 3600.0
    #: Failures after which a row moves from the main pass to the slow pass.
    slow_retry_after: int = 5
    #: JetStream de-duplication window of the stream we create (seconds, >= 120).
    duplicate_window_seconds: float = 120.0
    #: ``max_age`` of the stream we create (seconds; 0: unlimited).
    stream_max_age_seconds: float = 86400.0
    #: Safety poll: how long the relay sleeps without a NOTIFY before looking anyway.
    poll_seconds: float = 1.0
    #: How long a batch waits for its JetStream acknowledgements.
    publish_timeout_seconds: float = 5.0
    connect_timeout_seconds: float = 2.0
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 10.0
    slow_pass_every_seconds: float = 30.0
    prune_every_seconds: float = 60.0
    #: Rows deleted per pruning statement.
    prune_limit: int = 5000

    def __post_init__(self) -> None:
        if not self.nats_url:
            raise ValueError("nats_url is empty: pass the NATS server URL (settings.NATS_URL)")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")
        if self.slow_retry_after < 1:
            raise ValueError(f"slow_retry_after must be at least 1, not {self.slow_retry_after}")
        if self.duplicate_window_seconds < 120:
            raise ValueError(
                "duplicate_window_seconds must be at least 120 (docs/streaming.md), "
                f"not {self.duplicate_window_seconds}"
            )
        if self.retention_seconds < 0:
            raise ValueError(f"retention_seconds must be >= 0, not {self.retention_seconds}")
        for name in (
            "poll_seconds",
            "publish_timeout_seconds",
            "connect_timeout_seconds",
            "backoff_initial_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("backoff_max_seconds must be >= backoff_initial_seconds")

    @classmethod
    def from_settings(cls, **overrides: Any) -> RelayConfig:
        """The configuration from Django settings; *overrides* that are not None win."""
        values: dict[str, Any] = {
            "nats_url": settings.NATS_URL,
            "batch_size": settings.DURAGRAPH_RELAY_BATCH_SIZE,
            "retention_seconds": settings.DURAGRAPH_OUTBOX_RETENTION_SECONDS,
            "slow_retry_after": settings.DURAGRAPH_OUTBOX_SLOW_RETRY_AFTER,
            "duplicate_window_seconds": settings.DURAGRAPH_NATS_DUPLICATE_WINDOW_SECONDS,
            "stream_max_age_seconds": settings.DURAGRAPH_NATS_STREAM_MAX_AGE_SECONDS,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class RelayStats:
    """What one relay did (returned by :func:`run`; the metrics count the same things)."""

    published: int = 0
    #: Publication attempts that failed (a row failing twice counts twice).
    failed: int = 0
    #: Batches claimed (non-empty ones).
    batches: int = 0
    pruned: int = 0
    #: Times the relay backed off because NATS was unavailable.
    backoffs: int = 0
    #: Published rows JetStream acknowledged as duplicates (already stored under that event id).
    duplicates: int = 0


@dataclass
class Backoff:
    """Exponential backoff: *initial*, doubling up to *maximum*; :meth:`reset` after a success."""

    initial: float
    maximum: float
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class NatsUnavailable(Exception):
    """NATS or JetStream could not take the batch; the relay reconnects after a backoff."""


class Interrupted(Exception):
    """A second SIGTERM/SIGINT stopped the relay in the middle of its work (see :func:`run`)."""


@dataclass(frozen=True)
class _Row:
    outbox_id: int
    subject: str
    event_id: int
    body: bytes


@dataclass(frozen=True)
class _Outcome:
    #: Per row: None (acknowledged by JetStream) or why not.
    errors: list[str | None]
    #: The first error meaning NATS or JetStream is unavailable, if any.
    unavailable: BaseException | None
    #: Acknowledged rows that JetStream reported as duplicates.
    duplicates: int


def conninfo() -> str:
    """libpq parameters for the relay's own connections: Django's default database, as Django
    would connect to it (the embedded server's socket included)."""
    params = connection.get_connection_params()
    allowed = ("dbname", "user", "password", "host", "port", "sslmode", "options")
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in allowed and v not in (None, "")}
    )


class Relay:
    """One relay process' loop. Build it, then ``await relay.run(...)`` in an event loop.

    Args:
        config: what to connect to and how to batch, back off and prune.
        dsn: libpq connection string of the database (:func:`conninfo`).
    """

    def __init__(self, config: RelayConfig, dsn: str) -> None:
        self.config = config
        self.dsn = dsn
        self.stats = RelayStats()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._nats_lost = asyncio.Event()
        self._last_client_error: str | None = None
        self._nats_backoff = Backoff(config.backoff_initial_seconds, config.backoff_max_seconds)
        self._db_backoff = Backoff(config.backoff_initial_seconds, config.backoff_max_seconds)

    def stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run` (call in the loop's thread)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, *, once: bool = False) -> RelayStats:
        """Relay until :meth:`stop`; with *once*, until nothing is left to claim.

        *once* still waits out a NATS outage (nothing is dropped, so "drained" means published);
        only :meth:`stop` ends the wait.
        """
        listener = asyncio.create_task(self._listen(), name="relay-listener")
        now = time.monotonic()
        slow_pass_at = prune_at = now  # both due at start: a restarted relay catches up first
        try:
            while not self.stopping:
                if not await self._ensure_nats():
                    break  # stopping while NATS was down
                try:
                    self._wake.clear()  # a NOTIFY from here on means "look again"
                    full = await self._relay_batch(min_attempts=0)
                    if time.monotonic() >= slow_pass_at and not self.stopping:
                        await self._relay_batch(min_attempts=self.config.slow_retry_after)
                        slow_pass_at = time.monotonic() + self.config.slow_pass_every_seconds
                    if time.monotonic() >= prune_at:
                        await self._prune()
                        prune_at = time.monotonic() + self.config.prune_every_seconds
                    self._db_backoff.reset()
                except NatsUnavailable as error:
                    self.stats.backoffs += 1
                    await self._drop_nats(f"NATS could not take the batch ({error})")
                    continue
                except psycopg.OperationalError as error:
                    await self._drop_db(error)
                    continue
                if full:
                    continue  # more is waiting: no sleep between full batches
                if once:
                    break
                await self._wait_for_work()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self._close()
        return self.stats

    # -- one batch -----------------------------------------------------------------------------
    async def _relay_batch(self, *, min_attempts: int) -> bool:
        """Claim, publish and mark one batch; True when it was full (more may be waiting).

        Raises:
            NatsUnavailable: NATS could not take (part of) the batch. The outcome of every row
                is committed first: acknowledged rows are published, the others carry the error.
            psycopg.OperationalError: the database went away; the transaction rolled back and
                the rows will be claimed again (re-published messages are de-duplicated).
        """
        max_attempts = (
            self.config.slow_retry_after if min_attempts == 0 else _SLOW_PASS_ATTEMPTS_CEILING
        )
        db = await self._database()
        async with db.transaction():
            cursor = await db.execute(
                queries["claim_outbox"],
                {
                    "limit": self.config.batch_size,
                    "min_attempts": min_attempts,
                    "max_attempts": max_attempts,
                },
            )
            rows = [_Row(r[0], r[1], r[2], r[3].encode()) for r in await cursor.fetchall()]
            if not rows:
                return False
            outcome = await self._publish(rows)
            await db.execute(
                queries["mark_outbox"],
                {"ids": [row.outbox_id for row in rows], "errors": outcome.errors},
            )
        errors, unavailable = outcome.errors, outcome.unavailable
        # Counted after the commit: a row is published once its published_at is durable.
        failed = sum(error is not None for error in errors)
        self.stats.batches += 1
        self.stats.published += len(rows) - failed
        self.stats.failed += failed
        metrics.RELAY_PUBLISHED.inc(len(rows) - failed)
        if outcome.duplicates:
            # Published before by a relay that died before its commit: JetStream kept one copy.
            self.stats.duplicates += outcome.duplicates
            logger.info(
                "%d of %d messages were already in JetStream (duplicates dropped by Nats-Msg-Id)",
                outcome.duplicates,
                len(rows),
            )
        if failed:
            kind = "nats" if unavailable else "message"
            metrics.RELAY_PUBLISH_ERRORS.labels(kind).inc(failed)
            logger.warning(
                "%d of %d outbox rows not published (first error: %s)",
                failed,
                len(rows),
                next(e for e in errors if e is not None),
            )
        if unavailable is not None:
            raise NatsUnavailable(_describe(unavailable))
        self._nats_backoff.reset()  # a batch went through: the next outage starts at 0.1 s
        return len(rows) == self.config.batch_size

    async def _publish(self, rows: list[_Row]) -> _Outcome:
        """Publish *rows* pipelined and wait for their acknowledgements (bounded)."""
        assert self._js is not None and self._nc is not None
        errors: list[str | None] = [None] * len(rows)
        futures: dict[int, asyncio.Future[Any]] = {}
        unavailable: BaseException | None = None
        duplicates = 0
        max_payload = self._nc.max_payload
        for index, row in enumerate(rows):
            if refused := _refusal(row, max_payload):
                errors[index] = refused
                continue
            try:
                # No wait_stall: the pending-ack semaphore is as large as a batch, so it never
                # stalls, and with a timeout nats-py would yield to the loop on every message,
                # letting its flusher write (one send(2)) per message instead of per batch.
                futures[index] = await self._js.publish_async(
                    row.subject, row.body, headers={"Nats-Msg-Id": str(row.event_id)}
                )
            except NATS_UNAVAILABLE as error:
                unavailable = error
                break
            except MESSAGE_REFUSED as error:
                errors[index] = _describe(error)
        if futures:
            await self._await_acks(list(futures.values()))
        for index, future in futures.items():
            if future.cancelled():  # no ack within the timeout, or the connection was lost
                errors[index] = "no JetStream acknowledgement in time"
                unavailable = unavailable or nats.errors.TimeoutError()
                continue
            error = future.exception()
            if error is None:
                duplicates += bool(future.result().duplicate)
                continue
            errors[index] = _describe(error)
            if isinstance(error, NATS_UNAVAILABLE):
                unavailable = unavailable or error
        if unavailable is not None:
            # Rows after the failed write were never sent: they carry the same reason.
            text = _describe(unavailable)
            for index in range(len(rows)):
                if errors[index] is None and index not in futures:
                    errors[index] = text
        return _Outcome(errors=errors, unavailable=unavailable, duplicates=duplicates)

    async def _await_acks(self, futures: list[asyncio.Future[Any]]) -> None:
        """Wait for every acknowledgement, at most the publish timeout, or until NATS is lost;
        whatever is still pending then is cancelled."""
        gathered = asyncio.gather(*futures, return_exceptions=True)
        lost = asyncio.ensure_future(self._nats_lost.wait())
        try:
            await asyncio.wait(
                {gathered, lost},
                timeout=self.config.publish_timeout_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            lost.cancel()
            if not gathered.done():
                gathered.cancel()  # cancels the futures still waiting for their ack
                with contextlib.suppress(asyncio.CancelledError):
                    await gathered

    async def _prune(self) -> None:
        """Delete delivered rows past the retention period, a bounded statement at a time."""
        db = await self._database()
        while not self.stopping:
            cursor = await db.execute(
                queries["prune_outbox"],
                {
                    "retention_seconds": self.config.retention_seconds,
                    "limit": self.config.prune_limit,
                },
            )
            self.stats.pruned += cursor.rowcount
            if cursor.rowcount:
                logger.info("pruned %d delivered outbox rows", cursor.rowcount)
            if cursor.rowcount < self.config.prune_limit:
                return

    # -- waiting -------------------------------------------------------------------------------
    async def _wait_for_work(self) -> None:
        """Until a NOTIFY, the safety poll interval, or stop."""
        await self._wait_any(self._wake, timeout=self.config.poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early on stop."""
        await self._wait_any(timeout=seconds)

    async def _wait_any(self, *events: asyncio.Event, timeout: float) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._stopping, *events)]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _listen(self) -> None:
        """LISTEN on the outbox channel and wake the loop on every notification, for ever
        (reconnecting with backoff; the safety poll covers the gaps)."""
        backoff = Backoff(self.config.backoff_initial_seconds, self.config.backoff_max_seconds)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True
                ) as listener:
                    await listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    backoff.reset()
                    self._wake.set()  # rows committed while nobody listened
                    async for _ in listener.notifies():
                        self._wake.set()
            except psycopg.OperationalError as error:
                delay = backoff.next()
                logger.warning(
                    "relay LISTEN connection lost (%s); retrying in %.1f s", error, delay
                )
                await asyncio.sleep(delay)

    # -- connections ---------------------------------------------------------------------------
    async def _database(self) -> psycopg.AsyncConnection[Any]:
        if self._db is None or self._db.closed:
            self._db = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return self._db

    async def _drop_db(self, error: psycopg.OperationalError) -> None:
        delay = self._db_backoff.next()
        logger.warning("relay lost its database connection (%s); retrying in %.1f s", error, delay)
        if self._db is not None:
            await self._db.close()
            self._db = None
        await self._sleep(delay)

    async def _ensure_nats(self) -> bool:
        """Connected to NATS with the stream in place; retries with backoff. False: stopping."""
        while not self.stopping:
            if self._nc is not None and self._nc.is_connected and not self._nats_lost.is_set():
                return True
            await self._close_nats()
            try:
                await self._connect_nats()
            except NATS_UNAVAILABLE + MESSAGE_REFUSED as error:
                await self._close_nats()
                self.stats.backoffs += 1
                delay = self._nats_backoff.next()
                reason = _describe(error)
                if isinstance(error, nats.errors.NoServersError) and self._last_client_error:
                    reason = self._last_client_error  # says why, where NoServersError does not
                logger.warning(
                    "NATS unavailable at %s (%s); retrying in %.1f s, outbox rows wait in PostgreSQL",
                    self.config.nats_url,
                    reason,
                    delay,
                )
                await self._sleep(delay)
        return False

    async def _connect_nats(self) -> None:
        lost = asyncio.Event()
        self._nats_lost = lost

        async def on_lost() -> None:
            lost.set()

        async def on_error(error: Exception) -> None:
            self._last_client_error = _describe(error)
            logger.debug("nats client error: %s", self._last_client_error)

        # Reconnecting is this relay's job (exponential backoff, stop honoured, stream
        # re-ensured); nats-py's own loop retries at a fixed pace, unlogged. allow_reconnect=False
        # covers a lost connection; max_reconnect_attempts=1 (one retry at once, then
        # NoServersError) keeps connect() itself from retrying 60 times, 2 s apart.
        self._nc = await nats.connect(
            self.config.nats_url,
            name="duragraph-relay",
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            connect_timeout=self.config.connect_timeout_seconds,
            disconnected_cb=on_lost,
            closed_cb=on_lost,
            error_cb=on_error,
        )
        self._js = self._nc.jetstream(
            timeout=self.config.publish_timeout_seconds,
            publish_async_max_pending=max(4000, self.config.batch_size),
        )
        await ensure_stream(
            self._js,
            duplicate_window_seconds=self.config.duplicate_window_seconds,
            max_age_seconds=self.config.stream_max_age_seconds,
        )
        if self.stats.backoffs:
            logger.info("NATS is back at %s; publishing resumes", self.config.nats_url)
        else:
            logger.info(
                "relay connected to NATS at %s (stream %s, batches of %d)",
                self.config.nats_url,
                STREAM_NAME,
                self.config.batch_size,
            )

    async def _drop_nats(self, reason: str) -> None:
        delay = self._nats_backoff.next()
        logger.warning("%s; reconnecting in %.1f s", reason, delay)
        await self._close_nats()
        await self._sleep(delay)

    async def _close_nats(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            # Bounded: closing flushes what is buffered, and a hung server never reads it.
            with contextlib.suppress(*NATS_UNAVAILABLE, *MESSAGE_REFUSED):
                await asyncio.wait_for(nc.close(), self.config.connect_timeout_seconds)

    async def _close(self) -> None:
        await self._close_nats()
        if self._db is not None:
            await self._db.close()
            self._db = None


async def ensure_stream(
    js: JetStreamContext, *, duplicate_window_seconds: float, max_age_seconds: float
) -> js_api.StreamInfo:
    """Create the ``DURAGRAPH`` stream, or bring an existing one up to the contract.

    Idempotent, and safe with several relays starting at once: creating an identical stream is
    a no-op for JetStream. An existing stream keeps its operator's settings; only what the
    contract needs is added: the ``duragraph.>`` subjects and a duplicate window of at least
    *duplicate_window_seconds*.
    """
    try:
        info = await js.stream_info(STREAM_NAME)
    except nats.js.errors.NotFoundError:
        try:
            return await js.add_stream(
                name=STREAM_NAME,
                subjects=[STREAM_SUBJECTS],
                storage=js_api.StorageType.FILE,
                duplicate_window=duplicate_window_seconds,
                max_age=max_age_seconds or None,
            )
        except nats.js.errors.BadRequestError:
            info = await js.stream_info(STREAM_NAME)  # another relay created it first
    changes: dict[str, Any] = {}
    subjects = list(info.config.subjects or [])
    if STREAM_SUBJECTS not in subjects:
        changes["subjects"] = [*subjects, STREAM_SUBJECTS]
    if (info.config.duplicate_window or 0) < duplicate_window_seconds:
        changes["duplicate_window"] = duplicate_window_seconds
    if changes:
        logger.info("updating JetStream stream %s: %s", STREAM_NAME, changes)
        info = await js.update_stream(replace(info.config, **changes))
    return info


def _refusal(row: _Row, max_payload: int) -> str | None:
    """Why *row* cannot be published as it is (checked before sending), or None."""
    if not row.subject.startswith(SUBJECT_PREFIX):
        return f"subject {row.subject!r} is outside the {STREAM_NAME} stream ({STREAM_SUBJECTS})"
    # The server counts headers and payload against max_payload and closes the connection of a
    # client that exceeds it; nats-py checks the payload alone. Check the sum here.
    size = len(row.body) + len(f"NATS/1.0\r\nNats-Msg-Id: {row.event_id}\r\n\r\n")
    if size > max_payload:
        return f"message of {size} bytes exceeds the NATS server's max_payload ({max_payload})"
    return None


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text and text != name else name


def run(
    *,
    nats_url: str | None = None,
    batch_size: int | None = None,
    once: bool = False,
    stop: threading.Event | None = None,
    handle_signals: bool = False,
    **config: Any,
) -> RelayStats:
    """Run a relay in a new event loop until stopped (or, with *once*, until drained).

    Args:
        nats_url: NATS server URL (default ``settings.NATS_URL``).
        batch_size: rows per batch (default ``settings.DURAGRAPH_RELAY_BATCH_SIZE``).
        once: return when nothing is left to claim (tests, benchmarks, cron-style draining).
        stop: set it (from any thread) to stop after the batch in hand.
        handle_signals: SIGTERM and SIGINT stop after the batch in hand (a second one cancels
            at once). Only from the main thread (``manage.py relay_outbox``).
        **config: other :class:`RelayConfig` fields.

    Returns:
        What the relay did.

    Raises:
        ValueError: the configuration is invalid (e.g. no NATS URL).
        Interrupted: a second signal cancelled the batch in hand (its rows are published again
            by the next relay).
    """
    relay_config = RelayConfig.from_settings(nats_url=nats_url, batch_size=batch_size, **config)
    dsn = conninfo()  # reads Django's settings (and may start the embedded server): not in the loop
    return asyncio.run(
        _run(Relay(relay_config, dsn), once=once, stop=stop, handle_signals=handle_signals)
    )


async def _run(
    relay: Relay, *, once: bool, stop: threading.Event | None, handle_signals: bool
) -> RelayStats:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    if handle_signals:

        def on_signal(signum: int) -> None:
            if relay.stopping:
                logger.warning("second %s: stopping now", signal.Signals(signum).name)
                main.cancel()
            else:
                logger.info(
                    "%s: finishing the current batch, then stopping", signal.Signals(signum).name
                )
                relay.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
    watcher = asyncio.create_task(_watch(stop, relay)) if stop is not None else None
    try:
        return await relay.run(once=once)
    except asyncio.CancelledError:
        if handle_signals and relay.stopping:
            raise Interrupted("stopped by a second signal") from None
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)


async def _watch(stop: threading.Event, relay: Relay) -> None:
    # A threading.Event cannot be awaited; polling it costs nothing at this pace and, unlike a
    # thread blocked in stop.wait(), never outlives the loop.
    while not stop.is_set():
        await asyncio.sleep(0.05)
    relay.stop()
