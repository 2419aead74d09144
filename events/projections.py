"""Replay: rebuild aggregates from the log and compare them with their read models.

Each app registers a :class:`Projection` (in its ``AppConfig.ready``) that knows how to fold
its streams, read its read model back as a state, write a state into the read model and empty
the read model. Replay and rebuild are then the same code for every aggregate.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

from duragraph_site.errors import InvalidInput
from events import store
from events.domain import EventTypes, Recorded

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(frozen=True)
class Projection:
    """How one aggregate's read model is derived from its event stream."""

    #: The ``stream_type`` of its events, also its name on the command line.
    stream_type: str
    event_types: EventTypes
    apply: Callable[[Any, Recorded[Any]], Any]
    #: The state as the read model holds it, or None when there is no row.
    read: Callable[[uuid.UUID], Any]
    #: Write a state into the read model (``previous`` None: the row does not exist yet).
    save: Callable[[Any, Any], None]
    #: Delete every row of the read model; returns how many aggregates were removed.
    reset: Callable[[], int]
    #: Optional: update side tables that hold collections, one event at a time (e.g. a
    #: thread's checkpoints), called with the state after the event and the event.
    handle: Callable[[Any, Recorded[Any]], None] | None = None

    def rebuild(self, stream_id: uuid.UUID, *, write_side_tables: bool = False) -> Any:
        """The state folded from the event log alone (None for an unknown stream).

        With *write_side_tables*, also replays the events into the side tables (rebuilds).
        """
        state = None
        for event in store.load(stream_id):
            recorded = decode(event, self.event_types)
            state = self.apply(state, recorded)
            if write_side_tables and self.handle is not None:
                self.handle(state, recorded)
        return state


def record(
    projection: Projection,
    stream: store.Stream,
    previous: Any,
    new_events: list[Any],
    *,
    expected_version: int,
    now: datetime,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Append *new_events*, fold them onto *previous* and save the result into the read model.

    The one write path of every service, inside its ``transaction.atomic()``: the events, the
    outbox rows and the read model commit together or not at all. Returns the new state
    (*previous* unchanged when there is nothing to record).
    """
    if not new_events:
        return previous
    recorded = store.append(
        stream, expected_version=expected_version, events=new_events, now=now, metadata=metadata
    )
    state = previous
    for event in recorded:
        state = projection.apply(state, event)
        if projection.handle is not None:
            projection.handle(state, event)
    projection.save(state, previous)
    return state


def decode(event: store.StoredEvent, event_types: EventTypes) -> Recorded[Any]:
    return Recorded(
        event=event_types.decode(event.type, event.payload),
        version=event.version,
        at=event.created_at,
    )


_registry: dict[str, Projection] = {}


def register(projection: Projection) -> None:
    _registry[projection.stream_type] = projection


def get(stream_type: str) -> Projection:
    try:
        return _registry[stream_type]
    except KeyError:
        raise InvalidInput(
            f"unknown stream type {stream_type!r}; expected one of {sorted(_registry)}"
        ) from None


def all_projections() -> list[Projection]:
    """Every registered projection, in registration (dependency) order."""
    return list(_registry.values())


# -- comparison ------------------------------------------------------------------------------
def to_plain(value: Any) -> Any:
    """A JSON-like form of a state, so that states from different sources compare equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def diff(from_log: Any, from_read_model: Any) -> dict[str, tuple[Any, Any]]:
    """``{field: (value from the log, value in the read model)}`` for every differing field."""
    left, right = to_plain(from_log), to_plain(from_read_model)
    if not isinstance(left, dict) or not isinstance(right, dict):
        return {} if left == right else {"<aggregate>": (left, right)}
    return {
        key: (left.get(key), right.get(key))
        for key in sorted(left.keys() | right.keys())
        if left.get(key) != right.get(key)
    }


@dataclass(frozen=True)
class Replay:
    stream_type: str
    stream_id: uuid.UUID
    from_log: Any
    from_read_model: Any
    differences: dict[str, tuple[Any, Any]]


def replay(stream_type: str, stream_id: uuid.UUID) -> Replay:
    """Rebuild one aggregate from its events and compare it with its read model.

    A deleted aggregate folds to a state with ``deleted=True`` and has no read-model row; the
    two agree when the log says deleted and the row is gone.
    """
    projection = get(stream_type)
    rebuilt = projection.rebuild(stream_id)
    current = projection.read(stream_id)
    expected = None if rebuilt is None or getattr(rebuilt, "deleted", False) else rebuilt
    return Replay(stream_type, stream_id, rebuilt, current, diff(expected, current))


# -- rebuild ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RebuildReport:
    stream_type: str
    streams: int
    rebuilt: int
    differing: int


def rebuild_all(*, for_real: bool) -> Iterator[RebuildReport]:
    """Rebuild every read model from the log.

    Dry run (``for_real=False``): fold every stream and count the aggregates whose read model
    differs, changing nothing. For real: in one transaction per aggregate type, empty the read
    model and write every live aggregate back from its events.
    """
    for projection in all_projections():
        streams = rebuilt = differing = 0
        with transaction.atomic():
            if for_real:
                projection.reset()
            for stream_id in store.stream_ids(projection.stream_type):
                streams += 1
                state = projection.rebuild(stream_id, write_side_tables=for_real)
                live = state is not None and not getattr(state, "deleted", False)
                if for_real:
                    if live:
                        projection.save(state, None)
                        rebuilt += 1
                elif diff(state if live else None, projection.read(stream_id)):
                    differing += 1
            if not for_real:
                transaction.set_rollback(True)
        yield RebuildReport(projection.stream_type, streams, rebuilt, differing)
