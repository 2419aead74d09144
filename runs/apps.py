from __future__ import annotations

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from events import projections
        from runs import metrics, projection  # noqa: F401 - metrics: /metrics serves them

        projections.register(projection.PROJECTION)
