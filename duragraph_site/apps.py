from __future__ import annotations

from django.apps import AppConfig


class DuragraphSiteConfig(AppConfig):
    name = "duragraph_site"
    verbose_name = "DuraGraph"

    def ready(self) -> None:
        # Every process that sends Celery messages (daphne's webhooks and wake-ups, the
        # scheduler) must send them through this project's app and broker, not Celery's
        # default app (amqp://localhost), which would silently lose them.
        from duragraph_site import (
            celery,  # noqa: F401
            checks,  # noqa: F401 - registers the system checks
        )
