from __future__ import annotations

from django.apps import AppConfig


class AssistantsConfig(AppConfig):
    name = "assistants"
    verbose_name = "Assistants"

    def ready(self) -> None:
        from assistants import projection
        from events import projections

        projections.register(projection.PROJECTION)
