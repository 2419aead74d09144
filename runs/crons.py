"""Crons: schedules that create runs. Commands, queries and the firing of due crons.

A cron stores the run-creation body it will use (``payload``) and its next firing time. Firing
claims due crons with ``FOR UPDATE SKIP LOCKED`` and advances ``next_run_date`` in the same
transaction as the run it creates, so each tick creates exactly one run even when several
schedulers race.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from django.db import connection, transaction
from django.db.models import Count, Q, Window
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from assistants import domain as assistant_domain
from assistants.models import Assistant
from duragraph_site import ids
from duragraph_site.errors import BadRequest, DuraGraphError, InvalidInput, NotFound
from runs import payloads
from runs import services as run_services
from runs.models import Cron
from threads.models import Thread

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)

SORT_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "created_at",
    "updated_at",
    "next_run_date",
    "end_time",
)
_UNSET: Any = object()


def next_run_after(schedule: str, tz_name: str, after: datetime) -> datetime:
    """The first firing time of a 5-field cron *schedule* in *tz_name* strictly after *after*."""
    tz = _zone(tz_name)
    try:
        return (
            croniter(schedule, after.astimezone(tz)).get_next(datetime).astimezone(ZoneInfo("UTC"))
        )
    except (CroniterBadCronError, CroniterBadDateError, ValueError) as error:
        raise InvalidInput(
            f"schedule {schedule!r} is not a valid cron expression: {error}"
        ) from None


def _zone(tz_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"timezone {tz_name!r} is not an IANA time zone name") from None


def _validate_schedule(schedule: str) -> None:
    if (
        not isinstance(schedule, str)
        or len(schedule.split()) != 5
        or not croniter.is_valid(schedule)
    ):
        raise InvalidInput(
            f"schedule {schedule!r} must be a 5-field cron expression, e.g. '*/5 * * * *'"
        )


# -- commands --------------------------------------------------------------------------------
def cron_create(
    *,
    assistant_id: uuid.UUID,
    thread_id: uuid.UUID | None,
    schedule: str,
    payload: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    end_time: datetime | None = None,
    enabled: bool = True,
    tz_name: str | None = None,
    on_run_completed: str | None = None,
    tenant: str = DEFAULT_TENANT,
    scope: str | None = None,
) -> Cron:
    """Create a cron; ``on_run_completed`` (``delete``/``keep``) applies to stateless crons only.

    A thread's cron belongs to the thread's tenant, a stateless one to *tenant*; *scope* is the
    tenant the caller sees (None: every tenant): an assistant or thread it cannot see is
    NotFound, as an unknown id.

    Raises:
        NotFound: unknown assistant or thread.
        InvalidInput: bad schedule or timezone.
    """
    _validate_schedule(schedule)
    tz_name = tz_name or "UTC"
    now = timezone.now()
    owner = Assistant.objects.filter(assistant_id=assistant_id).values_list("tenant", "graph_id")
    assistant_tenant, graph_id = owner.first() or (None, None)
    if assistant_tenant is None or not assistant_domain.visible_to(assistant_tenant, scope):
        raise NotFound(f"Assistant {assistant_id} not found")
    # Its runs would be refused at every tick: refuse the cron now.
    request = payloads.build(dict(payload), stateless=thread_id is None)
    run_services.refuse_what_remote_workers_ignore(graph_id, request.kwargs)
    if thread_id is not None:
        threads = Thread.objects.filter(thread_id=thread_id)
        if scope is not None:
            threads = threads.filter(tenant=scope)
        thread_tenant = threads.values_list("tenant", flat=True).first()
        if thread_tenant is None:
            raise NotFound(f"Thread with ID {thread_id} not found")
        tenant = thread_tenant
    return Cron.objects.create(
        tenant=tenant,
        cron_id=ids.new_id(),
        assistant_id=assistant_id,
        thread_id=thread_id,
        schedule=schedule,
        timezone=tz_name,
        payload=dict(payload),
        metadata=dict(metadata or {}),
        enabled=enabled,
        on_run_completed=None if thread_id is not None else (on_run_completed or "delete"),
        end_time=end_time,
        next_run_date=next_run_after(schedule, tz_name, now),
        created_at=now,
        updated_at=now,
    )


def cron_update(
    *,
    cron_id: uuid.UUID,
    schedule: str | None = None,
    tz_name: str | None = None,
    end_time: datetime | None = _UNSET,
    enabled: bool | None = None,
    metadata: Mapping[str, Any] | None = None,
    on_run_completed: str | None = None,
    payload_changes: Mapping[str, Any] | None = None,
    tenant: str | None = None,
) -> Cron:
    """Change the given fields; a new schedule or timezone recomputes the next firing.

    ``end_time=None`` clears the end time; leaving it out keeps it. *tenant* here and below:
    the caller's scope (None: every tenant); another tenant's cron is NotFound.
    """
    with transaction.atomic():
        cron = _scoped(tenant).select_for_update().filter(cron_id=cron_id).first()
        if cron is None:
            raise NotFound(f"Cron {cron_id} not found")
        if schedule is not None:
            _validate_schedule(schedule)
            cron.schedule = schedule
        if tz_name is not None:
            _zone(tz_name)
            cron.timezone = tz_name
        if end_time is not _UNSET:
            cron.end_time = end_time
        if enabled is not None:
            cron.enabled = enabled
        if metadata is not None:
            cron.metadata = {**cron.metadata, **metadata}
        if on_run_completed is not None:
            if cron.thread_id is not None:
                raise BadRequest("on_run_completed applies to stateless crons only")
            cron.on_run_completed = on_run_completed
        if payload_changes:
            cron.payload = {**cron.payload, **payload_changes}
        now = timezone.now()
        if schedule is not None or tz_name is not None:
            cron.next_run_date = next_run_after(cron.schedule, cron.timezone, now)
        cron.updated_at = now
        cron.save()
        return cron


def _scoped(tenant: str | None):
    return Cron.objects.all() if tenant is None else Cron.objects.filter(tenant=tenant)


def cron_delete(*, cron_id: uuid.UUID, tenant: str | None = None) -> None:
    deleted, _ = _scoped(tenant).filter(cron_id=cron_id).delete()
    if not deleted:
        raise NotFound(f"Cron {cron_id} not found")


# -- queries ---------------------------------------------------------------------------------
def cron_get(cron_id: uuid.UUID, *, tenant: str | None = None) -> Cron:
    cron = _scoped(tenant).filter(cron_id=cron_id).first()
    if cron is None:
        raise NotFound(f"Cron {cron_id} not found")
    return cron


def _filtered(
    *, tenant=None, assistant_id=None, thread_id=None, enabled=None, metadata=None, where=None
):
    """The crons matching; *metadata* is a containment document or a ``Q`` on the column
    (LangGraph custom auth's filters), *where* any further condition (on the crons' threads)."""
    queryset = _scoped(tenant)
    if where is not None:
        queryset = queryset.filter(where)
    if assistant_id is not None:
        queryset = queryset.filter(assistant_id=assistant_id)
    if thread_id is not None:
        queryset = queryset.filter(thread_id=thread_id)
    if enabled is not None:
        queryset = queryset.filter(enabled=enabled)
    if isinstance(metadata, Q):
        queryset = queryset.filter(metadata)
    elif metadata:
        queryset = queryset.filter(metadata__contains=metadata)
    return queryset


def cron_search(
    *,
    tenant: str | None = None,
    assistant_id: uuid.UUID | None = None,
    thread_id: uuid.UUID | None = None,
    enabled: bool | None = None,
    metadata: dict | Q | None = None,
    where: Q | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> tuple[list[Cron], int]:
    order = sort_by or "created_at"
    if order not in SORT_FIELDS:
        raise InvalidInput(f"sort_by must be one of {list(SORT_FIELDS)}")
    direction = "" if sort_order == "asc" else "-"
    filters = {
        "tenant": tenant,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "enabled": enabled,
        "metadata": metadata,
        "where": where,
    }
    queryset = _filtered(**filters).annotate(total=Window(Count("*")))
    rows = list(queryset.order_by(f"{direction}{order}", "cron_id")[offset : offset + limit])
    total = rows[0].total if rows else (_filtered(**filters).count() if offset else 0)
    return rows, total


def cron_count(*, tenant=None, assistant_id=None, thread_id=None, metadata=None, where=None) -> int:
    return _filtered(
        tenant=tenant,
        assistant_id=assistant_id,
        thread_id=thread_id,
        metadata=metadata,
        where=where,
    ).count()


# -- firing ----------------------------------------------------------------------------------
#: PostgreSQL advisory lock key of the cron scheduler's leader ("dgcron" in ASCII).
SCHEDULER_LOCK = 0x6467_6372_6F6E


def crons_fire_due(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Create the runs of every due cron and schedule each one's next firing; returns run ids.

    One scheduler at a time (a transaction-level advisory lock: others return at once), and
    each cron is claimed with ``FOR UPDATE SKIP LOCKED`` and advanced in the same transaction
    as its run, so every tick creates exactly one run however many schedulers run.
    """
    now = now or timezone.now()
    created: list[uuid.UUID] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SCHEDULER_LOCK])
        if not cursor.fetchone()[0]:
            return created
        due = (
            Cron.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_date__lte=now)
            .filter(Q(end_time__isnull=True) | Q(end_time__gt=now))
            .order_by("next_run_date")
        )
        for cron in due:
            try:
                with transaction.atomic():  # one bad cron does not stop the others
                    request = payloads.build(
                        {**cron.payload, "on_completion": cron.on_run_completed or "delete"},
                        stateless=cron.thread_id is None,
                    )
                    run = run_services.run_create(
                        thread_id=cron.thread_id,
                        assistant_id=cron.assistant_id,
                        kwargs=request.kwargs,
                        metadata={**request.metadata, "cron_id": str(cron.cron_id)},
                        multitask_strategy=request.multitask_strategy,
                        after_seconds=request.after_seconds,
                        # A stateless cron's threads are its tenant's (its assistant and
                        # thread were checked against the caller when it was created).
                        tenant=cron.tenant,
                    )
                    created.append(run.run_id)
            except DuraGraphError:
                logger.warning("cron %s could not create its run", cron.cron_id, exc_info=True)
            cron.next_run_date = next_run_after(cron.schedule, cron.timezone, now)
            cron.updated_at = now
            cron.save(update_fields=["next_run_date", "updated_at"])
    return created
