from __future__ import annotations

from django.apps import AppConfig


class ThreadsConfig(AppConfig):
    name = "threads"
    verbose_name = "Threads"

    def ready(self) -> None:
        from assistants import hooks as assistant_hooks
        from events import projections
        from threads import projection, services

        projections.register(projection.PROJECTION)
        assistant_hooks.assistant_deleting.register(services.threads_delete_for_assistant)
