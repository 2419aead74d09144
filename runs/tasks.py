"""Celery tasks: interfaces, not logic. Each takes ids or nothing and calls a service.

A Celery message only ever *wakes* an executor: the run itself is claimed from PostgreSQL
under a lease, so a lost or duplicated message can neither lose nor double a run.
"""

from __future__ import annotations

import logging

import httpx
from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="duragraph.execute_runs", ignore_result=True)
def execute_runs() -> int:
    """Wake-up: execute claimable runs until none are left."""
    from workers import executor

    return executor.drain(graph_ids=executor.served_graphs())


@shared_task(name="duragraph.reap_expired_leases", ignore_result=True)
def reap_expired_leases() -> int:
    """Periodic: expire lost leases (retry with backoff, or fail), then wake executors."""
    from runs import services

    reaped = services.runs_reap_expired_leases()
    if any(run.status == "pending" for run in reaped):
        execute_runs.delay()
    return len(reaped)


@shared_task(name="duragraph.sweep_queue", ignore_result=True)
def sweep_queue() -> bool:
    """Periodic: re-dispatch a wake-up if claimable runs wait (their wake-up was lost, or their
    ``after_seconds``/backoff just passed)."""
    from runs import selectors

    if selectors.runs_claimable_exist():
        execute_runs.delay()
        return True
    return False


@shared_task(name="duragraph.fire_crons", ignore_result=True)
def fire_crons() -> int:
    """Periodic: create the runs of due crons (one leader; exactly once per tick)."""
    from runs import crons

    created = crons.crons_fire_due()
    if created:
        execute_runs.delay()
    return len(created)


@shared_task(name="duragraph.expire", ignore_result=True)
def expire() -> dict[str, int]:
    """Periodic: delete threads and store items whose TTL has passed."""
    from store import services as store_services
    from threads import services as thread_services

    return {
        "threads": thread_services.threads_delete_expired(),
        "store_items": store_services.store_prune_expired(),
    }


@shared_task(
    name="duragraph.send_webhook",
    ignore_result=True,
    autoretry_for=(httpx.TransportError, httpx.HTTPStatusError),
    max_retries=3,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=False,
)
def send_webhook(run_id: str, url: str) -> int:
    """POST the ended run (and its result) to its webhook; retried on network errors and 5xx."""
    from runs import webhooks

    return webhooks.deliver(run_id, url)
