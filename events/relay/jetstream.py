"""The relay's JetStream side: the stream it publishes into, which errors mean what, and
:class:`JetStreamLink`, its connection (connect with the stream in place, publish a batch
pipelined, notice a lost connection).

Reconnecting with a backoff is the relay loop's job (:mod:`events.relay.loop`); this module
connects once, and says why it could not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
from nats.js import api as js_api

from events.relay.config import RelayConfig

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


class NatsUnavailable(Exception):
    """NATS or JetStream could not take the batch; the relay reconnects after a backoff."""


@dataclass(frozen=True)
class OutboxRow:
    """A claimed outbox row, as it is published."""

    outbox_id: int
    subject: str
    event_id: int
    body: bytes


@dataclass(frozen=True)
class PublishOutcome:
    """What became of a batch (:meth:`JetStreamLink.publish`)."""

    #: Per row: None (acknowledged by JetStream) or why not.
    errors: list[str | None]
    #: The first error meaning NATS or JetStream is unavailable, if any.
    unavailable: BaseException | None
    #: Acknowledged rows that JetStream reported as duplicates.
    duplicates: int


class JetStreamLink:
    """The relay's NATS connection and JetStream context.

    Args:
        config: the server, the timeouts and the stream's settings.
    """

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        #: Why the client last failed, as nats-py reported it (NoServersError does not say).
        self.last_client_error: str | None = None
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._lost = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Connected, and not told since that the connection was lost."""
        return self._nc is not None and self._nc.is_connected and not self._lost.is_set()

    async def connect(self) -> None:
        """Connect and make sure the stream is there (:func:`ensure_stream`).

        Raises:
            NATS_UNAVAILABLE or MESSAGE_REFUSED errors: not connected (call :meth:`close`).
        """
        lost = asyncio.Event()
        self._lost = lost

        async def on_lost() -> None:
            lost.set()

        async def on_error(error: Exception) -> None:
            self.last_client_error = describe(error)
            logger.debug("nats client error: %s", self.last_client_error)

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

    async def close(self) -> None:
        """Close the connection, if any (bounded by the connect timeout)."""
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            # Bounded: closing flushes what is buffered, and a hung server never reads it.
            with contextlib.suppress(*NATS_UNAVAILABLE, *MESSAGE_REFUSED):
                async with asyncio.timeout(self.config.connect_timeout_seconds):
                    await nc.close()

    async def publish(self, rows: list[OutboxRow]) -> PublishOutcome:
        """Publish *rows* pipelined and wait for their acknowledgements (bounded). Call when
        :attr:`connected`; never raises for a message or an outage, it reports them."""
        assert self._js is not None and self._nc is not None
        errors: list[str | None] = [None] * len(rows)
        futures: dict[int, asyncio.Future[Any]] = {}
        unavailable: BaseException | None = None
        duplicates = 0
        max_payload = self._nc.max_payload
        for index, row in enumerate(rows):
            if refused := refusal(row, max_payload):
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
                errors[index] = describe(error)
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
            errors[index] = describe(error)
            if isinstance(error, NATS_UNAVAILABLE):
                unavailable = unavailable or error
        if unavailable is not None:
            # Rows after the failed write were never sent: they carry the same reason.
            text = describe(unavailable)
            for index in range(len(rows)):
                if errors[index] is None and index not in futures:
                    errors[index] = text
        return PublishOutcome(errors=errors, unavailable=unavailable, duplicates=duplicates)

    async def _await_acks(self, futures: list[asyncio.Future[Any]]) -> None:
        """Wait for every acknowledgement, at most the publish timeout, or until NATS is lost;
        whatever is still pending then is cancelled."""
        gathered = asyncio.gather(*futures, return_exceptions=True)
        lost = asyncio.ensure_future(self._lost.wait())
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


def refusal(row: OutboxRow, max_payload: int) -> str | None:
    """Why *row* cannot be published as it is (checked before sending), or None."""
    if not row.subject.startswith(SUBJECT_PREFIX):
        return f"subject {row.subject!r} is outside the {STREAM_NAME} stream ({STREAM_SUBJECTS})"
    # The server counts headers and payload against max_payload and closes the connection of a
    # client that exceeds it; nats-py checks the payload alone. Check the sum here.
    size = len(row.body) + len(f"NATS/1.0\r\nNats-Msg-Id: {row.event_id}\r\n\r\n")
    if size > max_payload:
        return f"message of {size} bytes exceeds the NATS server's max_payload ({max_payload})"
    return None


def describe(error: BaseException) -> str:
    """*error* in one line, its type first (what goes into ``last_error`` and the logs)."""
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text and text != name else name
