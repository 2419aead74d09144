"""LangGraph custom auth on runs: a run is reached through its thread, so the ``threads``
handlers decide (``create_run``, ``read``, ``search``, ``update`` for a cancel, ``delete``), as
in LangGraph; a thread whose metadata their filters exclude is an unknown thread (404).
Crons: the ``crons`` handlers, and the ``threads`` ones on a cron's thread (LangGraph's
``Crons.search``/``count``: a cron whose thread the filters exclude is not found)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q
from rest_framework.request import Request

from accounts import custom_auth
from accounts.authentication import principal_of
from accounts.domain import Principal
from assistants import selectors as assistant_selectors
from assistants.api.access import assistant_runnable
from duragraph_site.api.params import parse_uuid
from duragraph_site.errors import NotFound
from events import store as event_store
from runs import crons, payloads, stream_log
from runs.domain import visible_to
from runs.models import Run
from runs.services.recording import ACTIVE
from runs.stream_log import RunInfo
from threads import selectors as thread_selectors
from threads.api.access import thread_authorized
from threads.models import Thread

__all__ = [
    "cancel_many_authorized",
    "run_authorized",
    "run_stream_authorized",
    "run_thread_authorized",
    "thread_authorized",
]


def run_thread_authorized(
    request: Request, thread_id: str, run_id: str, action: str, /, **value: Any
) -> None:
    """Authorize *action* on the run's thread (404 when the handler's filters exclude it)."""
    thread_authorized(
        principal_of(request),
        parse_uuid(thread_id, "thread"),
        action,
        run_id=parse_uuid(run_id, "run"),
        **value,
    )


def run_stream_authorized(principal: Principal, info: RunInfo) -> bool:
    """Whether the caller may join the stream of a run known by its id only (``GET
    /runs/{run_id}/stream``, ``/ws/runs/{run_id}``): ``threads``/``read`` with ``thread_id``
    and ``run_id``, as LangGraph's ``Runs.Stream.join``. False when the filters exclude it
    (the caller answers as for an unknown run).

    The filters apply to the metadata of the run's thread as LangGraph has it: a run on a
    thread is the thread's (gone: excluded); a stateless run's temporary thread carries, in
    LangGraph, its graph and assistant and the run's metadata as the ``create_run`` handler
    left it (here the thread records only the former, and is deleted when the run ends while
    its events stay, so they are read from the run's creation event)."""
    filters = custom_auth.authorize(
        principal, "threads", "read", {"thread_id": info.thread_id, "run_id": info.run_id}
    )
    if not filters:
        return True
    thread = Thread.objects.filter(thread_id=info.thread_id).only("metadata").first()
    created = event_store.last_event(info.run_id, type="RunCreated")
    kwargs = (created.payload.get("kwargs") or {}) if created is not None else {}
    if created is not None and kwargs.get("temporary"):
        metadata = {
            **(thread.metadata if thread is not None else {}),
            "assistant_id": str(created.payload.get("assistant_id")),
            **(created.payload.get("metadata") or {}),
        }
    elif thread is not None:
        metadata = thread.metadata
    else:
        return False
    return custom_auth.matches(metadata, filters)


def cancel_many_authorized(
    principal: Principal,
    *,
    thread_id: uuid.UUID | None,
    run_ids: list[uuid.UUID] | None,
    status: str | None,
    action: str,
) -> list[uuid.UUID] | None:
    """``POST /runs/cancel``: ``threads``/``update`` with LangGraph's value (``thread_id``,
    ``action``, ``metadata`` ``{"run_ids", "status"}``). None when unfiltered; else the active
    runs the selector names whose thread the filters let through (LangGraph's ``Runs.cancel``),
    which is all the cancel may touch: runs on other threads are as unknown ids (404 when none
    is left, as when none matched)."""
    value = {
        "thread_id": thread_id,
        "action": action,
        "metadata": {"run_ids": run_ids, "status": status},
    }
    filters = custom_auth.authorize(principal, "threads", "update", value)
    if not filters:
        return None
    runs = Run.objects.filter(status__in=ACTIVE)
    if principal.tenant_scope is not None:
        runs = runs.filter(tenant=principal.tenant_scope)
    if status is not None:
        runs = runs if status == "all" else runs.filter(status=status)
    else:
        if thread_id is not None:
            runs = runs.filter(thread_id=thread_id)
        if run_ids:
            runs = runs.filter(run_id__in=run_ids)
    candidates = list(runs.values_list("run_id", "thread_id"))
    threads = dict(
        Thread.objects.filter(thread_id__in={t for _, t in candidates}).values_list(
            "thread_id", "metadata"
        )
    )
    allowed = [
        run_id
        for run_id, thread in candidates
        if thread in threads and custom_auth.matches(threads[thread], filters)
    ]
    if not allowed:
        raise NotFound("No active runs matched")
    return allowed


def run_authorized(
    principal: Principal,
    thread_id: uuid.UUID | None,
    assistant_id: uuid.UUID,
    run_request: payloads.RunRequest,
    *,
    stateless: bool,
) -> dict[str, Any] | None:
    """Run the ``threads``/``create_run`` handler; the run's metadata as it left it. The thread
    must match its filters and the assistant (unless a system one) the ``assistants``/``read``
    filters, else they are unknown (404)."""
    if principal.kind != "custom":
        return run_request.metadata
    value = {
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "run_id": None,
        "status": "pending",
        "metadata": dict(run_request.metadata or {}),
        "prevent_insert_if_inflight": True,
        "multitask_strategy": run_request.multitask_strategy,
        "if_not_exists": "reject" if stateless else run_request.if_not_exists,
        "after_seconds": run_request.after_seconds,
        "kwargs": run_request.kwargs,
    }
    filters = custom_auth.authorize(principal, "threads", "create_run", value)
    assistant = assistant_selectors.assistant_get(assistant_id, tenant=principal.tenant_scope)
    assistant_runnable(principal, assistant)
    if thread_id is not None and filters:
        try:
            thread = thread_selectors.thread_get(thread_id, tenant=principal.tenant_scope)
        except NotFound:
            thread = None  # run creation answers for a missing thread (404, or creates it)
        if thread is not None:
            custom_auth.require_match(
                thread.metadata, filters, NotFound(f"Thread with ID {thread_id} not found")
            )
    return value["metadata"]


def cron_create_authorized(
    principal: Principal,
    thread_id: uuid.UUID | None,
    assistant_id: uuid.UUID,
    value: dict[str, Any],
) -> dict[str, Any] | None:
    """Run the ``crons``/``create`` handler; the cron's metadata as it left it. A thread the
    ``threads``/``read`` filters exclude, or an assistant (not a system one) the
    ``assistants``/``read`` filters exclude, is unknown (404), as in LangGraph."""
    if principal.kind != "custom":
        return value.get("metadata")
    value = {**value, "metadata": dict(value.get("metadata") or {})}
    custom_auth.authorize(principal, "crons", "create", value)
    assistant = assistant_selectors.assistant_get(assistant_id, tenant=principal.tenant_scope)
    assistant_runnable(principal, assistant)
    if thread_id is not None:
        thread_authorized(principal, thread_id, "read")
    return value["metadata"]


def cron_authorized(
    principal: Principal, cron_id: uuid.UUID, action: str, /, **value: Any
) -> dict[str, Any]:
    """Authorize *action* on the cron: 404 when its metadata does not match the filters."""
    value = {"cron_id": cron_id, **value}
    filters = custom_auth.authorize(principal, "crons", action, value)
    if filters:
        cron = crons.cron_get(cron_id, tenant=principal.tenant_scope)
        custom_auth.require_match(cron.metadata, filters, NotFound(f"Cron {cron_id} not found"))
    return value


def cron_searched_metadata(principal: Principal, value: dict[str, Any]) -> dict | None:
    """The metadata a cron search or count filters on, with the ``crons``/``search`` filters
    (raises ``custom_auth.NothingMatches``)."""
    filters = custom_auth.authorize(principal, "crons", "search", value)
    return custom_auth.search_metadata(value.get("metadata"), filters) or None


def cron_thread_condition(principal: Principal, thread_id: uuid.UUID | None) -> Q | None:
    """What a cron search or count asks of the crons' threads (LangGraph's ``Crons.search``):
    the ``threads``/``read`` filters when it names a thread, else the ``threads``/``search``
    ones; a cron without a thread is exempt. None when unfiltered."""
    if thread_id is not None:
        filters = custom_auth.authorize(principal, "threads", "read", {"thread_id": thread_id})
    else:
        filters = custom_auth.authorize(
            principal, "threads", "search", {"metadata": {}, "limit": 0, "offset": 0}
        )
    if not filters:
        return None
    matching = Thread.objects.filter(custom_auth.metadata_condition(filters))
    return Q(thread_id__isnull=True) | Q(thread_id__in=matching.values("thread_id"))


def run_known_by_id(principal: Principal, tenant: str | None, run_id: uuid.UUID) -> RunInfo:
    """A run reached by its id only (the stateless join, the event history, the WebSockets):
    its :class:`RunInfo`, or NotFound when it is unknown, another tenant's, or excluded by the
    custom auth's filters (:func:`run_stream_authorized`)."""
    info = stream_log.run_info(run_id)
    if (
        info is None
        or not visible_to(info.tenant, tenant)
        or not run_stream_authorized(principal, info)
    ):
        raise NotFound(f"Run {run_id} not found")
    return info
