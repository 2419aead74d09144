from __future__ import annotations

from django.apps import AppConfig


class ThreadsConfig(AppConfig):
    name = "threads"
    verbose_name = "Threads"

    def ready(self) -> None:
        from events import projections
        from threads import projection

        projections.register(projection.PROJECTION)
