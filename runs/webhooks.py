"""Webhooks: LangGraph POSTs the run to ``webhook`` when it ends."""

from __future__ import annotations

import uuid

import httpx
from django.conf import settings

from duragraph_site import serde
from duragraph_site.errors import NotFound
from runs import projection, selectors

TIMEOUT_SECONDS = 10.0


def payload(run_id: uuid.UUID) -> dict:
    """The run as the API shows it, plus its result (``values``, or ``__error__``).

    Built from the event log, not the read model: a stateless run's row is gone by the time
    the webhook fires.
    """
    from runs.api.views import RunSerializer

    run = projection.PROJECTION.rebuild(run_id)
    if run is None:
        raise NotFound(f"Run {run_id} not found")
    body = dict(RunSerializer(run).data)
    body["values"] = selectors.run_result(run.run_id, run.thread_id)
    return serde.to_jsonable(body)


def deliver(run_id: str, url: str) -> int:
    """POST once; raises on transport errors and 5xx so the task retries, returns the status."""
    response = httpx.post(
        url,
        content=serde.dumps(payload(uuid.UUID(run_id))),
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"duragraph/{settings.SPECTACULAR_SETTINGS['VERSION']}",
        },
        timeout=TIMEOUT_SECONDS,
    )
    if response.status_code >= 500:
        response.raise_for_status()
    return response.status_code
