"""Handing runs back to the queue when their worker is gone: lease expiry, and the runs of a
worker known to be gone (``workers.reaper`` decides which)."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import psycopg
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from runs import domain
from runs.models import Run
from runs.services.recording import load_thread_and_run, record, sync_thread

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

logger = logging.getLogger(__name__)


def runs_reap_expired_leases(
    *, now: datetime | None = None, policy: domain.RetryPolicy | None = None
) -> list[Run]:
    """Hand back the runs whose lease expired: retry with backoff while attempts remain, else
    fail. (Runs of workers known to be gone are handed back sooner, by the workers' reaper
    through :func:`runs_hand_back_from_worker`.)"""
    now = now or timezone.now()
    expired = Run.objects.filter(status=domain.RunStatus.RUNNING, lease_expires_at__lte=now)
    return _hand_back_each(
        list(expired.values_list("run_id", flat=True)),
        now=now,
        policy=policy or _retry_policy(),
        why_gone=lambda holder: None,  # only its lease decides
        skip_locked=True,
    )


def runs_hand_back_from_worker(
    *, worker_id: str, why: str, now: datetime | None = None, skip_locked: bool = False
) -> list[Run]:
    """Retry (or fail, past the budget) every run leased to *worker_id*, now: the worker is gone
    (declared lost, went offline) or said it no longer holds them (it restarted). *why*
    completes "worker X ... during attempt N" in the reason recorded. With *skip_locked* (the
    reaper, which comes back), a run another transaction holds is left for later."""
    now = now or timezone.now()
    held = Run.objects.filter(status=domain.RunStatus.RUNNING, worker_id=worker_id)
    return _hand_back_each(
        list(held.values_list("run_id", flat=True)),
        now=now,
        policy=_retry_policy(),
        why_gone=lambda holder: why if holder == worker_id else None,
        skip_locked=skip_locked,
    )


#: How long a hand-back waits for a run's (or its thread's) row lock before leaving that run to
#: the reaper's next round, so that one locked run cannot hold back every other hand-back.
HAND_BACK_LOCK_TIMEOUT_MS = 500


def _hand_back_each(
    run_ids: list[uuid.UUID],
    *,
    now: datetime,
    policy: domain.RetryPolicy,
    why_gone: Callable[[str | None], str | None],
    skip_locked: bool,
) -> list[Run]:
    """:func:`_hand_back` each run in its own transaction (one bad row cannot block the others).
    With *skip_locked*, those another transaction holds are skipped after a short wait: maybe
    the frozen worker itself, mid-write. Its writes are fenced anyway; the reaper takes the run
    back on a later round (the server ends a transaction left idle:
    ``DATABASE_IDLE_IN_TRANSACTION_SECONDS``)."""
    handed_back: list[Run] = []
    for run_id in run_ids:
        try:
            with transaction.atomic():
                if skip_locked:
                    _lock_timeout(HAND_BACK_LOCK_TIMEOUT_MS)
                if run := _hand_back(run_id, now=now, policy=policy, why_gone=why_gone):
                    handed_back.append(run)
        except OperationalError as error:
            if not (skip_locked and isinstance(error.__cause__, psycopg.errors.LockNotAvailable)):
                raise
            logger.info("run %s is locked; handing it back on a later round", run_id)
    return handed_back


def _retry_policy() -> domain.RetryPolicy:
    return domain.RetryPolicy(**settings.DURAGRAPH_RETRY_POLICY)


def _lock_timeout(milliseconds: int) -> None:
    """Bound every lock wait of the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"])


def _hand_back(
    run_id: uuid.UUID,
    *,
    now: datetime,
    policy: domain.RetryPolicy,
    why_gone: Callable[[str | None], str | None],
) -> Run | None:
    """One run's ``RunLeaseExpired`` and retry or failure, under the locks; None if its lease
    holds (renewed, finished or claimed by another worker since the caller looked).
    *why_gone* says whether (and how) the run's current holder is gone, asked under the lock."""
    thread, state = load_thread_and_run(run_id)
    worker_gone = why_gone(state.worker_id)
    if domain.decide_retry(state, now=now, policy=policy, worker_gone=worker_gone) is None:
        return None
    new_events = domain.expire_lease(state, now=now, policy=policy, worker_gone=worker_gone)
    run = record(state, new_events, now=now)
    sync_thread(thread, run, now=now)
    return Run.objects.get(run_id=run_id)
