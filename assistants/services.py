"""Assistant commands. Each is one transaction: events + read models + outbox, or nothing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from assistants import domain, graphs, hooks, projection
from assistants.models import Assistant
from duragraph_site.errors import ConcurrencyError, Conflict, InvalidInput
from events import projections

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
    tenant: str = DEFAULT_TENANT,
    scope: str | None = None,
) -> Assistant:
    """Create an assistant at version 1, belonging to *tenant*.

    *scope* is the tenant the caller sees (None: every tenant): an existing assistant it
    cannot see is never returned by ``if_exists="do_nothing"``; its id is taken (Conflict).

    Raises:
        NotFound: *graph_id* is not a registered graph.
        Conflict: *assistant_id* exists and *if_exists* is ``raise`` (or the caller cannot
            see it).
        InvalidInput: bad fields or if_exists.
    """
    if if_exists not in IF_EXISTS_CHOICES:
        raise InvalidInput(f"if_exists must be one of {list(IF_EXISTS_CHOICES)}")
    _require_graph(graph_id)
    # A uuid4 made just now names no assistant and no stream: nothing to look up. A given id
    # may exist, or be a deleted assistant's, whose stream the new one continues (domain.apply).
    new_stream = assistant_id is None
    assistant_id = assistant_id or uuid.uuid4()
    with transaction.atomic():
        if not new_stream and (
            existing := Assistant.objects.filter(assistant_id=assistant_id).first()
        ):
            if if_exists == "do_nothing" and domain.visible_to(existing.tenant, scope):
                return existing
            raise Conflict(f"Assistant {assistant_id} already exists")
        previous = None if new_stream else projection.PROJECTION.rebuild(assistant_id)
        new_events = domain.create(
            assistant_id=assistant_id,
            graph_id=graph_id,
            config=config,
            context=context,
            metadata=metadata,
            name=name,
            description=description,
            tenant=tenant,
        )
        state = _record(previous, new_events, assistant_id=assistant_id)
        return _as_saved(state)


def _as_saved(state: domain.AssistantState) -> Assistant:
    """The row ``projection.save`` has just written for *state*, as if read back (it is not:
    that would be one more round trip for values we hold). Its JSON fields hold the values as
    given; a later read shows them as jsonb keeps them (its own key order)."""
    values = []
    for field in Assistant._meta.concrete_fields:
        value = getattr(state, field.attname)  # the row's columns are the state's fields
        values.append(dict(value) if isinstance(value, Mapping) else value)
    return Assistant.from_db(router.db_for_write(Assistant), None, values)


def assistant_update(
    *,
    assistant_id: uuid.UUID,
    graph_id: str | None = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
    tenant: str | None = None,
) -> Assistant:
    """Snapshot a new version with the given fields changed and make it the active one.

    *tenant*: the caller's scope (None: every tenant); see :func:`domain.require_changeable`.
    """
    _require_graph(graph_id)
    with transaction.atomic():
        state = _load_changeable(assistant_id, tenant)
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


def assistant_set_latest(
    *, assistant_id: uuid.UUID, version: int, tenant: str | None = None
) -> Assistant:
    """Make an existing version the active one (NotFound for an unknown version)."""
    with transaction.atomic():
        state = _load_changeable(assistant_id, tenant)
        _record(state, domain.set_latest(state, version=version), assistant_id=assistant_id)
        return Assistant.objects.get(assistant_id=assistant_id)


def assistant_delete(
    *, assistant_id: uuid.UUID, delete_threads: bool = False, tenant: str | None = None
) -> None:
    """Delete the assistant; with *delete_threads*, also the threads it ran on (and their runs:
    ``hooks.assistant_deleting``, which ``threads`` answers)."""
    with transaction.atomic():
        state = _load_changeable(assistant_id, tenant)
        hooks.assistant_deleting(assistant_id=assistant_id, delete_threads=delete_threads)
        _record(state, domain.delete(state), assistant_id=assistant_id)


def _load_changeable(assistant_id: uuid.UUID, tenant: str | None) -> domain.AssistantState:
    """The assistant's state, row locked, if a caller scoped to *tenant* may change it."""
    state = projection.load_for_update(assistant_id)
    domain.require_changeable(state, tenant)
    return state


def _require_graph(graph_id: str | None) -> None:
    """NotFound unless *graph_id* is registered (malformed ids are left to the domain's checks)."""
    if isinstance(graph_id, str) and graph_id:
        graphs.registry().get(graph_id)


def assistants_ensure_system() -> list[Assistant]:
    """Give every graph of the local registry its default assistant (LangGraph's "system"
    assistants); returns those created now."""
    created = [assistant_ensure_default(graph_id=graph_id) for graph_id in graphs.registry().ids()]
    return [assistant for assistant in created if assistant is not None]


def assistant_ensure_default(*, graph_id: str) -> Assistant | None:
    """Create the default assistant of *graph_id* unless it exists; returns it if created now.

    Idempotent and safe when several processes do it at once: a concurrent creator wins and
    this one keeps the winner's row.
    """
    assistant_id = domain.system_assistant_id(graph_id)
    if Assistant.objects.filter(assistant_id=assistant_id).exists():
        return None
    try:
        return assistant_create(
            graph_id=graph_id,
            assistant_id=assistant_id,
            if_exists="do_nothing",
            name=graph_id,
            metadata={"created_by": "system"},
            tenant=domain.SYSTEM_TENANT,
        )
    except ConcurrencyError:
        return None


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
