"""The Celery app (``celery -A duragraph_site worker``): the built-in executor and webhooks.

Periodic jobs are not Celery tasks: the scheduler runs them itself (``duragraph_site.scheduler``).

A Celery message is only ever a wake-up: work is claimed from PostgreSQL under a lease, so a
lost or duplicated message can neither lose nor double a run. The broker is
``CELERY_BROKER_URL`` (Redis in production); unset, kombu's SQLAlchemy transport on the same
PostgreSQL, so development needs no extra server. Workers also listen to PostgreSQL for queued
runs (``workers.queue_listener``), so a run starts in milliseconds whatever the broker.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from workers.queue_listener import RunQueueListener

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")

app = Celery("duragraph")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["runs", "workers"])


def database_broker_url() -> str:
    """kombu's SQLAlchemy transport URL for the project's own PostgreSQL database."""
    from django.db import connection

    db = connection.settings_dict
    host = db["HOST"] or connection.get_connection_params()["host"]  # attaches the embedded server
    if host.startswith("/"):
        return f"sqla+postgresql+psycopg://{db['USER']}@/{db['NAME']}?host={host}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"sqla+postgresql+psycopg://{db['USER']}{password}@{host}{port}/{db['NAME']}"


@app.on_after_configure.connect
def _broker_on_this_database(sender: Celery, source: Any, **kwargs: Any) -> None:
    """No ``CELERY_BROKER_URL``: the project's own PostgreSQL, resolved when the configuration is
    first needed (attaching the embedded server only then, not on import)."""
    if not source.broker_url:
        source.broker_url = database_broker_url()


app.steps["worker"].add(RunQueueListener)
