"""Assistant commands. Each is one transaction: events + read models + outbox, or nothing."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from assistants import domain, graphs, projection
from assistants.models import Assistant
from duragraph_site.errors import ConcurrencyError, Conflict, InvalidInput
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
        NotFound: *graph_id* is not a registered graph.
        Conflict: *assistant_id* exists and *if_exists* is ``raise``.
        InvalidInput: bad fields or if_exists.
    """
    if if_exists not in IF_EXISTS_CHOICES:
        raise InvalidInput(f"if_exists must be one of {list(IF_EXISTS_CHOICES)}")
    _require_graph(graph_id)
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
    _require_graph(graph_id)
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


def assistant_delete(*, assistant_id: uuid.UUID, delete_threads: bool = False) -> None:
    """Delete the assistant; with *delete_threads*, also the threads it ran on (and their runs)."""
    from threads import services as thread_services
    from threads.models import Thread

    with transaction.atomic():
        state = projection.load_for_update(assistant_id)
        if delete_threads:
            ran_on = Thread.objects.filter(metadata__contains={"assistant_id": str(assistant_id)})
            for thread_id in ran_on.values_list("thread_id", flat=True):
                thread_services.thread_delete(thread_id=thread_id)
        _record(state, domain.delete(state), assistant_id=assistant_id)


def _require_graph(graph_id: str | None) -> None:
    """NotFound unless *graph_id* is registered (malformed ids are left to the domain's checks)."""
    if isinstance(graph_id, str) and graph_id:
        graphs.registry().get(graph_id)


def assistants_ensure_system() -> list[Assistant]:
    """Give every registered graph its default assistant (LangGraph's "system" assistants).

    Idempotent and safe when several processes start at once: a concurrent creator wins and
    this one keeps the winner's row.
    """
    created = []
    for graph_id in graphs.registry().ids():
        assistant_id = domain.system_assistant_id(graph_id)
        if Assistant.objects.filter(assistant_id=assistant_id).exists():
            continue
        try:
            created.append(
                assistant_create(
                    graph_id=graph_id,
                    assistant_id=assistant_id,
                    if_exists="do_nothing",
                    name=graph_id,
                    metadata={"created_by": "system"},
                )
            )
        except ConcurrencyError:
            continue
    return created


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
