"""Assistant commands. Each is one transaction: events + read models + outbox, or nothing."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from assistants import domain, projection
from assistants.models import Assistant
from duragraph_site.errors import Conflict, InvalidInput
from events import projections

if TYPE_CHECKING:
    from collections.abc import Mapping

IF_EXISTS_CHOICES = ("raise", "do_nothing")


def assistant_create(
    *,
    graph_id: str,
    assistant_id: uuid.UUID | None = None,
    if_exists: str = "raise",
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Assistant:
    """Create an assistant at version 1.

    Raises:
        Conflict: *assistant_id* exists and *if_exists* is ``raise``.
        InvalidInput: bad fields or if_exists.
    """
    if if_exists not in IF_EXISTS_CHOICES:
        raise InvalidInput(f"if_exists must be one of {list(IF_EXISTS_CHOICES)}")
    assistant_id = assistant_id or uuid.uuid4()
    with transaction.atomic():
        if existing := Assistant.objects.filter(assistant_id=assistant_id).first():
            if if_exists == "do_nothing":
                return existing
            raise Conflict(f"Assistant {assistant_id} already exists")
        # A previously deleted assistant with this id continues its stream (see domain.apply).
        previous = projection.PROJECTION.rebuild(assistant_id)
        new_events = domain.create(
            assistant_id=assistant_id,
            graph_id=graph_id,
            config=config,
            context=context,
            metadata=metadata,
            name=name,
            description=description,
        )
        _record(previous, new_events, assistant_id=assistant_id)
        return Assistant.objects.get(assistant_id=assistant_id)


def assistant_update(
    *,
    assistant_id: uuid.UUID,
    graph_id: str | None = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Assistant:
    """Snapshot a new version with the given fields changed and make it the active one."""
    with transaction.atomic():
        state = projection.load_for_update(assistant_id)
        new_events = domain.update(
            state,
            graph_id=graph_id,
            config=config,
            context=context,
            metadata=metadata,
            name=name,
            description=description,
        )
        _record(state, new_events, assistant_id=assistant_id)
        return Assistant.objects.get(assistant_id=assistant_id)


def assistant_set_latest(*, assistant_id: uuid.UUID, version: int) -> Assistant:
    """Make an existing version the active one (NotFound for an unknown version)."""
    with transaction.atomic():
        state = projection.load_for_update(assistant_id)
        _record(state, domain.set_latest(state, version=version), assistant_id=assistant_id)
        return Assistant.objects.get(assistant_id=assistant_id)


def assistant_delete(*, assistant_id: uuid.UUID) -> None:
    with transaction.atomic():
        state = projection.load_for_update(assistant_id)
        _record(state, domain.delete(state), assistant_id=assistant_id)


def _record(
    state: domain.AssistantState | None, new_events: list, *, assistant_id: uuid.UUID
) -> domain.AssistantState:
    return projections.record(
        projection.PROJECTION,
        projection.stream(assistant_id),
        state,
        new_events,
        expected_version=state.stream_version if state is not None else 0,
        now=timezone.now(),
    )
