"""The event store: reads of the log, and ``append``, the writer of ``events_event`` and
``events_outbox``.

``append`` writes a batch of events to one stream *and* queues each for publication, in the
caller's transaction, with one SQL statement. The read-model updates that the caller makes in
the same ``transaction.atomic()`` therefore commit with their events or not at all.

Both go through one SQL function, ``events_append_v1`` (``events/sql/events_append_v1.sql``):
nothing else inserts into those tables. The executor's hot writes (``runs/sql/queries.sql``)
call the same function inside the single statement that checks their lease, so they cost one
round trip and still write events the one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from django.db import IntegrityError, connection

from duragraph_site.errors import ConcurrencyError
from events import context, metrics
from events.domain import Recorded, StoredEvent
from events.models import STREAM_VERSION_CONSTRAINT
from events.sql import queries

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterator, Sequence
    from datetime import datetime

    from events.domain import DomainEvent


@dataclass(frozen=True)
class Stream:
    """Where events go: the aggregate's type and id, and the NATS subject they are announced on."""

    type: str
    id: uuid.UUID
    subject: str


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: Any) -> Any:
    """A jsonb column's value from a raw cursor: Django registers a text loader for jsonb with
    psycopg 3, so raw cursors see strings."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def append(
    stream: Stream,
    *,
    expected_version: int,
    events: Sequence[DomainEvent],
    now: datetime,
    metadata: dict[str, Any] | None = None,
) -> list[Recorded[Any]]:
    """Append *events* to *stream* after *expected_version* and queue them in the outbox.

    Call inside the ``transaction.atomic()`` that also updates the read models.

    Args:
        stream: the stream to write to.
        expected_version: the version the caller's decision was based on (0 for a new stream).
        events: the new events, in order; they get versions ``expected_version + 1, ...``.
        now: the recording time, passed in so that replay folds the same timestamps.
        metadata: extra metadata (worker id, lease epoch) merged over the bound context.

    Returns:
        The recorded events, ready to fold into the aggregate.

    Raises:
        ConcurrencyError: another writer appended to the stream first. The transaction is
            aborted; the caller's ``atomic()`` rolls everything back.
    """
    if not events:
        return []
    versions = list(range(expected_version + 1, expected_version + 1 + len(events)))
    params = {
        "stream_type": stream.type,
        "stream_id": stream.id,
        "subject": stream.subject,
        "first_version": versions[0],
        "types": [event.type_name for event in events],
        "payloads": [_json(event.to_payload()) for event in events],
        "metadata": _json({**context.current(), **(metadata or {})}),
        "created_at": now,
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute(queries["append_events"], params)
            cursor.fetchall()
    except IntegrityError as error:
        if _constraint_name(error) == STREAM_VERSION_CONSTRAINT:
            raise ConcurrencyError(stream.id, expected_version) from None
        raise
    metrics.count_appended(stream.type, params["types"])
    return [
        Recorded(event=event, version=version, at=now)
        for event, version in zip(events, versions, strict=True)
    ]


def _constraint_name(error: IntegrityError) -> str | None:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def load(stream_id: uuid.UUID, *, after_version: int = 0) -> list[StoredEvent]:
    """The events of one stream with version > *after_version*, in stream order."""
    with connection.cursor() as cursor:
        cursor.execute(
            queries["load_stream"], {"stream_id": stream_id, "after_version": after_version}
        )
        rows = cursor.fetchall()
    return [stored_event(row) for row in rows]


def stored_event(row: Sequence[Any]) -> StoredEvent:
    """An event from a row of the log's columns, in table order (``SELECT id, stream_type,
    stream_id, version, type, payload, metadata, created_at``), from any cursor."""
    return StoredEvent(
        id=row[0],
        stream_type=row[1],
        stream_id=row[2],
        version=row[3],
        type=row[4],
        payload=loads(row[5]),
        metadata=loads(row[6]),
        created_at=row[7],
    )


def last_event(
    stream_id: uuid.UUID, *, type: str, contains: dict[str, Any] | None = None
) -> StoredEvent | None:
    """The latest event of one stream of *type* whose payload contains *contains*, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            queries["last_event"],
            {"stream_id": stream_id, "type": type, "contains": _json(contains or {})},
        )
        row = cursor.fetchone()
    return stored_event(row) if row is not None else None


def stream_ids(stream_type: str) -> Iterator[uuid.UUID]:
    """Every stream of *stream_type*, in creation order."""
    with connection.cursor() as cursor:
        cursor.execute(queries["stream_ids"], {"stream_type": stream_type})
        for (stream_id,) in cursor.fetchall():
            yield stream_id


def stream_version(stream_id: uuid.UUID) -> int:
    """The version of the last event in the stream; 0 for a stream with no events."""
    with connection.cursor() as cursor:
        cursor.execute(queries["stream_version"], {"stream_id": stream_id})
        (version,) = cursor.fetchone()
    return version
