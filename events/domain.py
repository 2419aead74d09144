"""What every aggregate's events have in common. Pure Python: no Django.

An event is a past-tense fact (``RunStarted``) whose payload schema rejects unknown keys. Its type
name is its class name and must never change once events of that type are stored. A recorded
event carries the stream version it was written at and the time the service passed in, so folding
the same events always gives the same state (replay is deterministic).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from duragraph_site.errors import DuraGraphError, InvalidInput

E = TypeVar("E", bound="DomainEvent")
S = TypeVar("S")


@dataclass(frozen=True)
class StoredEvent:
    """An event row as read back from the log (payload not yet decoded into a domain event)."""

    id: int
    stream_type: str
    stream_id: uuid.UUID
    version: int
    type: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The event as the dashboard shows it and the run's history download holds it."""
        return {
            "id": self.id,
            "stream_type": self.stream_type,
            "stream_id": str(self.stream_id),
            "version": self.version,
            "type": self.type,
            "payload": self.payload,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
        }


class DomainEvent(BaseModel):
    """Base of every event payload: frozen, and unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The stored type name; defaults to the class name (set explicitly to rename a class safely).
    type_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" not in cls.__dict__:
            cls.type_name = cls.__name__

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready payload that is stored."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Recorded(Generic[E]):
    """An event as part of a stream: the fact, its stream version and when it was recorded."""

    event: E
    version: int
    at: datetime


class OutOfSequence(DuraGraphError):
    """An event was applied out of its stream's version sequence."""

    code = "out_of_sequence"


class UnknownEventType(DuraGraphError):
    """The event type is not known to this aggregate."""

    code = "unknown_event_type"


class EventTypes:
    """The event classes of one aggregate, to decode stored payloads back into events."""

    def __init__(self, *classes: type[DomainEvent]) -> None:
        self._by_name = {cls.type_name: cls for cls in classes}

    def __contains__(self, type_name: str) -> bool:
        return type_name in self._by_name

    def decode(self, type_name: str, payload: Mapping[str, Any]) -> DomainEvent:
        """Rebuild the event; raises UnknownEventType or pydantic's ValidationError."""
        try:
            cls = self._by_name[type_name]
        except KeyError:
            raise UnknownEventType(f"unknown event type {type_name!r}") from None
        return cls.model_validate(payload)


def check_sequence(current_version: int, recorded: Recorded[Any]) -> None:
    """Refuse an event whose version is not ``current_version + 1``."""
    if recorded.version != current_version + 1:
        raise OutOfSequence(
            f"{recorded.event.type_name} has version {recorded.version}, "
            f"expected {current_version + 1}"
        )


def fold(
    apply: Callable[[S | None, Recorded[Any]], S],
    records: Iterable[Recorded[Any]],
    state: S | None = None,
) -> S | None:
    """Fold *records* onto *state* (None: a new stream) with an aggregate's ``apply``."""
    for recorded in records:
        state = apply(state, recorded)
    return state


__all__ = [
    "DomainEvent",
    "EventTypes",
    "OutOfSequence",
    "Recorded",
    "UnknownEventType",
    "ValidationError",
    "check_sequence",
    "fold",
    "require_json",
]


def require_json(field: str, value: Any, *, object_only: bool = True) -> None:
    """Raise InvalidInput naming *field* unless *value* is plain JSON (a JSON object by default).

    Plain JSON means dicts with string keys, lists, strings, finite numbers, booleans and None,
    so that what is stored is exactly what is replayed.
    """
    if object_only and not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object, not {type(value).__name__}")
    problem = _json_problem(value, field)
    if problem:
        raise InvalidInput(problem)


def _json_problem(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return (
            None
            if value == value and value not in (float("inf"), float("-inf"))
            else f"{path} is not a finite number"
        )
    if isinstance(value, list):
        for index, item in enumerate(value):
            if problem := _json_problem(item, f"{path}[{index}]"):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a non-string key {key!r}"
            if problem := _json_problem(item, f"{path}.{key}"):
                return problem
        return None
    return f"{path} holds a {type(value).__name__}, which is not JSON"
