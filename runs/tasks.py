"""Celery tasks of the runs app: interfaces, not logic. Each takes ids and calls a service.

Run execution is the workers app's (``workers.tasks``); periodic jobs (reaper, sweeper, crons,
expiry) are not tasks: ``manage.py scheduler`` runs them itself, so a backlog of run execution
cannot delay them (``duragraph_site.scheduler``).
"""

from __future__ import annotations

import httpx
from celery import shared_task

from runs import webhooks


@shared_task(
    name="duragraph.send_webhook",
    ignore_result=True,
    autoretry_for=(httpx.TransportError, httpx.HTTPStatusError),
    max_retries=3,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=False,
)
def send_webhook(run_id: str, url: str) -> int | None:
    """POST the ended run (and its result) to its webhook; retried on network errors and 5xx.
    None: the target was refused (docs/webhooks.md), and is not retried."""
    return webhooks.deliver(run_id, url)
