"""The outbox relay: drains ``events_outbox`` into NATS JetStream (``manage.py relay_outbox``).

``docs/streaming.md`` is the contract (stream ``DURAGRAPH`` on ``duragraph.>``, one message per
outbox row on the row's subject, ``Nats-Msg-Id`` = event id, the event as JSON). This package
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

Modules (this package re-exports what callers use: ``from events import relay``, then
``relay.run(...)``):

- :mod:`events.relay.config`: :class:`RelayConfig` (from settings, validated) and
  :class:`RelayStats`.
- :mod:`events.relay.jetstream`: the ``DURAGRAPH`` stream (:func:`ensure_stream`), which NATS
  errors mean "back off" and which mean "this message", and :class:`JetStreamLink`, the
  connection that publishes a batch pipelined.
- :mod:`events.relay.loop`: :class:`Relay`, the loop: claim, publish, mark; wake-ups (LISTEN,
  through :mod:`duragraph_site.db.listen`), backoff, pruning.
- :mod:`events.relay.runner`: :func:`run`, a relay in its own event loop, stopped by an event or
  by signals.
"""

from __future__ import annotations

from events.relay.config import RelayConfig, RelayStats
from events.relay.jetstream import (
    MESSAGE_REFUSED,
    NATS_UNAVAILABLE,
    STREAM_NAME,
    STREAM_SUBJECTS,
    SUBJECT_PREFIX,
    JetStreamLink,
    NatsUnavailable,
    ensure_stream,
)
from events.relay.loop import Relay
from events.relay.runner import Interrupted, run

__all__ = [
    "MESSAGE_REFUSED",
    "NATS_UNAVAILABLE",
    "STREAM_NAME",
    "STREAM_SUBJECTS",
    "SUBJECT_PREFIX",
    "Interrupted",
    "JetStreamLink",
    "NatsUnavailable",
    "Relay",
    "RelayConfig",
    "RelayStats",
    "ensure_stream",
    "run",
]
