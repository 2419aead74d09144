"""Reading streams from the event log: what a run stream needs before it starts, the events of a
thread's runs, relayed events decoded from NATS, and :func:`db_call` (database code off the
event loop, without holding a pooled connection).

Synchronous functions here run through :func:`db_call` when called from a stream; each reads
with Django's connection of the calling thread.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.db import connection

from accounts.domain import DEFAULT_TENANT
from duragraph_site import sqlfiles
from duragraph_site.db.connections import released
from events import store
from events.domain import StoredEvent
from runs.frames import TERMINAL_EVENTS, run_modes_of

logger = logging.getLogger(__name__)
QUERIES = sqlfiles.load(Path(__file__).parent / "sql" / "streams.sql")

_LIFECYCLE = ["RunStarted", "RunRetried", *sorted(TERMINAL_EVENTS)]


@dataclass(frozen=True)
class RunInfo:
    """What a run stream needs to know before it starts."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    #: The run stream's current version.
    version: int
    #: The API stream modes it was created with.
    modes: list[str]
    #: ``(version, attempt)`` of its latest ``RunStarted``; None before it started.
    started: tuple[int, int] | None
    #: Whether its latest lifecycle event is terminal.
    ended: bool
    #: Its tenant, from its ``RunCreated``.
    tenant: str = DEFAULT_TENANT


def run_info(run_id: uuid.UUID) -> RunInfo | None:
    """The run's :class:`RunInfo` from the event log (a stateless run's row is deleted when it
    ends; its events stay). None when there is no such run. Synchronous (database)."""
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["run_lifecycle"], {"run_id": run_id, "types": _LIFECYCLE})
        rows = cursor.fetchall()
        if not rows or rows[0][1] != "RunCreated":
            return None
        version = store.stream_version(run_id)
    created = store.loads(rows[0][2])
    started: tuple[int, int] | None = None
    ended = False
    for row_version, kind, payload in rows[1:]:
        if kind == "RunStarted":
            started = (row_version, int(store.loads(payload).get("attempt", 1)))
        ended = kind in TERMINAL_EVENTS
    return RunInfo(
        run_id=run_id,
        thread_id=uuid.UUID(str(created["thread_id"])),
        version=version,
        modes=run_modes_of(created.get("kwargs") or {}),
        started=started,
        ended=ended,
        tenant=created["tenant"] if created.get("tenant") is not None else DEFAULT_TENANT,
    )


def event_from_message(body: bytes) -> StoredEvent | None:
    """A relayed event (the NATS message body of ``docs/streaming.md``); None if malformed."""
    try:
        raw = orjson.loads(body)
        created_at = raw.get("created_at")
        return StoredEvent(
            id=int(raw["id"]),
            stream_type=str(raw["stream_type"]),
            stream_id=uuid.UUID(str(raw["stream_id"])),
            version=int(raw["version"]),
            type=str(raw["type"]),
            payload=raw.get("payload") or {},
            metadata=raw.get("metadata") or {},
            created_at=datetime.fromisoformat(created_at) if created_at else None,  # type: ignore[arg-type]
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        logger.warning("ignoring a malformed event message on NATS")
        return None


async def db_call(function: Callable[..., Any], *args: Any) -> Any:
    """Run database code on a worker thread, giving its pooled connection back right after:
    a stream idles for minutes and must not hold a connection meanwhile."""

    def call() -> Any:
        with released():
            return function(*args)

    return await sync_to_async(call, thread_sensitive=False)()


# -- a thread's runs (thread streams) --------------------------------------------------------
def thread_exists(thread_id: uuid.UUID, tenant: str | None = None) -> bool:
    """Whether the thread is there (a thread stream ends when it is deleted), for a caller
    scoped to *tenant* (None: every tenant; another tenant's thread is not there)."""
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["thread_exists"], {"thread_id": thread_id, "tenant": tenant})
        return cursor.fetchone() is not None


def graph_of_assistant(assistant_id: Any) -> str | None:
    """The graph id of an assistant (None when it is gone)."""
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["graph_of_assistant"], {"assistant_id": assistant_id})
        row = cursor.fetchone()
        return row[0] if row else None


def thread_new_runs(
    thread_id: uuid.UUID, known: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, int, str]]:
    """``(run_id, version, status)`` of the thread's runs not in *known*, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["thread_new_runs"], {"thread_id": thread_id, "known": list(known)})
        return cursor.fetchall()


def runs_created(run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The ``RunCreated`` payload of each of *run_ids* whose events are visible."""
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["runs_created"], {"run_ids": list(run_ids)})
        return {row[0]: store.loads(row[1]) for row in cursor.fetchall()}


def runs_reached(run_ids: Sequence[uuid.UUID], after_id: int) -> dict[uuid.UUID, int]:
    """For each of *run_ids*, its last version with a global event id up to *after_id*."""
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["runs_reached"], {"run_ids": list(run_ids), "after_id": after_id})
        return dict(cursor.fetchall())


def runs_events_after(following: Sequence[tuple[uuid.UUID, int]]) -> list[StoredEvent]:
    """The events of several runs, each after its own version (``(run_id, version)`` pairs),
    in global id order."""
    with connection.cursor() as cursor:
        cursor.execute(
            QUERIES["runs_events_after"],
            {"run_ids": [r for r, _ in following], "after": [v for _, v in following]},
        )
        return [store.stored_event(row) for row in cursor.fetchall()]
