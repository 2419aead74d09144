"""The queue: claiming runs under a lease (one statement, ``runs/sql/queries.sql``: claim_runs)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from events import context as event_context
from events import metrics as event_metrics
from runs import domain, projection
from runs import metrics as run_metrics
from runs.models import Run
from runs.services.recording import record
from runs.sql import queries

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Claim:
    """A run leased to a worker: every write the worker makes must name this epoch."""

    run: Run
    lease_epoch: int


def runs_claim(
    *,
    worker_id: str,
    limit: int = 1,
    lease_seconds: float | None = None,
    graph_ids: list[str] | None = None,
    worker_kind: str = "builtin",
) -> list[Claim]:
    """Lease up to *limit* claimable runs to *worker_id* (``runs/sql/queries.sql``: claim_runs).

    Claimable: pending, past ``available_at``, the oldest pending run of a thread that has no
    running run, and (with *graph_ids*) of a graph the worker serves. Oldest first, by creation:
    a retried run keeps its place in line. Returned in that order. One statement with
    ``FOR UPDATE SKIP LOCKED``, so concurrent claimers never get the same run.
    """
    now = timezone.now()
    params = {
        "worker_id": worker_id,
        "limit": limit,
        "now": now,
        "lease_seconds": lease_seconds or settings.DURAGRAPH_LEASE_SECONDS,
        "graph_ids": graph_ids,
        "metadata": orjson.dumps(dict(event_context.current())).decode(),
        "subject": projection.SUBJECT,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(queries["claim_runs"], params)
        leased = dict(cursor.fetchall())
        event_metrics.count_appended("run", ["RunStarted"] * len(leased))
    if not leased:
        return []
    runs = (
        Run.objects.filter(run_id__in=leased)
        .select_related("assistant")
        .order_by("created_at", "run_id")
    )
    run_metrics.observe_claims([run.available_at for run in runs], now=now, worker_kind=worker_kind)
    return [Claim(run=run, lease_epoch=leased[run.run_id]) for run in runs]


def run_start(*, run_id: uuid.UUID, worker_id: str, lease_seconds: float | None = None) -> Claim:
    """Lease one specific pending run to *worker_id* (the queue claims in bulk in SQL)."""
    now = timezone.now()
    with transaction.atomic():
        state = projection.load_for_update(run_id)
        new_events = domain.start(
            state,
            worker_id=worker_id,
            lease_seconds=lease_seconds or settings.DURAGRAPH_LEASE_SECONDS,
            now=now,
        )
        run = record(state, new_events, now=now, metadata={"worker_id": worker_id})
        return Claim(run=Run.objects.get(run_id=run_id), lease_epoch=run.lease_epoch)
