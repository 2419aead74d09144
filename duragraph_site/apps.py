from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings

from duragraph_site import langgraph_config


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

        apply_langgraph_cors()
        apply_mount_prefix()


def apply_langgraph_cors() -> None:
    """``langgraph.json``'s ``http.cors`` replaces the CORS settings it names, read once at
    start as LangGraph does (docs/cors.md). A malformed section is left to the system check,
    which names the key and stops every ``manage.py`` command."""
    try:
        found = langgraph_config.cors_settings(
            settings.CORS_ALLOW_HEADERS, settings.CORS_EXPOSE_HEADERS
        )
    except ValueError:
        return
    for name, value in found.items():
        setattr(settings, name, value)


def apply_mount_prefix() -> None:
    """Under ``langgraph.json``'s ``http.mount_prefix``, the pages' assets are linked under it
    (Django adds a script prefix to ``STATIC_URL`` once, at the first read, not per request)
    while whitenoise still finds them by the path after it (docs/langgraph-json.md)."""
    try:
        prefix = langgraph_config.mount_prefix()
    except ValueError:
        return  # the system check names it
    if prefix:
        settings.STATIC_URL = f"{prefix}/static/"
        settings.WHITENOISE_STATIC_PREFIX = "/static/"
