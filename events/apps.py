from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event log"

    def ready(self) -> None:
        from events import metrics  # noqa: F401 - registers its /metrics series
