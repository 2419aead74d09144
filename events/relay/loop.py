"""The relay loop (:class:`Relay`): claim a batch of outbox rows, publish it, mark it, in one
transaction; back off while NATS or the database is away; prune delivered rows.

Wake-ups. A :class:`duragraph_site.db.listen.Listener` (its own thread and connection) LISTENs
on ``duragraph_outbox`` (the outbox's statement trigger NOTIFYs at commit) and wakes the loop; a
safety poll runs every second anyway, and a full batch is followed at once by the next.
Delivered rows older than ``DURAGRAPH_OUTBOX_RETENTION_SECONDS`` are pruned every minute (the
events themselves are never deleted).

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
import time
from typing import Any

import nats.errors
import psycopg

from duragraph_site.db.listen import Backoff, Listener
from events import metrics
from events.models import OUTBOX_CHANNEL
from events.relay.config import RelayConfig, RelayStats
from events.relay.jetstream import (
    MESSAGE_REFUSED,
    NATS_UNAVAILABLE,
    STREAM_NAME,
    JetStreamLink,
    NatsUnavailable,
    OutboxRow,
    describe,
)
from events.sql import queries

logger = logging.getLogger(__name__)

_SLOW_PASS_ATTEMPTS_CEILING = 2**31 - 1  # events_outbox.attempts is an integer column


class Relay:
    """One relay process' loop. Build it, then ``await relay.run(...)`` in an event loop.

    Args:
        config: what to connect to and how to batch, back off and prune.
        dsn: libpq connection string of the database
            (:func:`duragraph_site.db.listen.conninfo`).
    """

    def __init__(self, config: RelayConfig, dsn: str) -> None:
        self.config = config
        self.dsn = dsn
        self.stats = RelayStats()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._nats = JetStreamLink(config)
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
        listener = self._listener(asyncio.get_running_loop())
        listener.start()
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
            await asyncio.to_thread(listener.stop)
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
            rows = [OutboxRow(r[0], r[1], r[2], r[3].encode()) for r in await cursor.fetchall()]
            if not rows:
                return False
            outcome = await self._nats.publish(rows)
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
            raise NatsUnavailable(describe(unavailable))
        self._nats_backoff.reset()  # a batch went through: the next outage starts at 0.1 s
        return len(rows) == self.config.batch_size

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

    def _listener(self, loop: asyncio.AbstractEventLoop) -> Listener:
        """LISTEN on the outbox channel from a thread, waking the loop on every notification
        (reconnecting with backoff; the safety poll covers the gaps)."""

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the relay is gone
                loop.call_soon_threadsafe(self._wake.set)

        return Listener(
            OUTBOX_CHANNEL,
            name="relay-listener",
            on_connect=lambda connection: wake(),  # rows committed while nobody listened
            on_wake=lambda connection, notifies: wake() if notifies else None,
            dsn=self.dsn,
            backoff_initial_seconds=self.config.backoff_initial_seconds,
            backoff_max_seconds=self.config.backoff_max_seconds,
        )

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
            if self._nats.connected:
                return True
            await self._nats.close()
            try:
                await self._nats.connect()
            except NATS_UNAVAILABLE + MESSAGE_REFUSED as error:
                await self._nats.close()
                self.stats.backoffs += 1
                delay = self._nats_backoff.next()
                reason = describe(error)
                if isinstance(error, nats.errors.NoServersError) and self._nats.last_client_error:
                    reason = self._nats.last_client_error  # says why, where NoServersError does not
                logger.warning(
                    "NATS unavailable at %s (%s); retrying in %.1f s, outbox rows wait in PostgreSQL",
                    self.config.nats_url,
                    reason,
                    delay,
                )
                await self._sleep(delay)
                continue
            if self.stats.backoffs:
                logger.info("NATS is back at %s; publishing resumes", self.config.nats_url)
            else:
                logger.info(
                    "relay connected to NATS at %s (stream %s, batches of %d)",
                    self.config.nats_url,
                    STREAM_NAME,
                    self.config.batch_size,
                )
        return False

    async def _drop_nats(self, reason: str) -> None:
        delay = self._nats_backoff.next()
        logger.warning("%s; reconnecting in %.1f s", reason, delay)
        await self._nats.close()
        await self._sleep(delay)

    async def _close(self) -> None:
        await self._nats.close()
        if self._db is not None:
            await self._db.close()
            self._db = None
