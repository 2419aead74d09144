from __future__ import annotations

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from events import projections
        from runs import metrics, projection, services  # noqa: F401 - metrics: /metrics serves them
        from threads import hooks as thread_hooks

        projections.register(projection.PROJECTION)
        thread_hooks.thread_deleting.register(services.runs_delete_for_thread)
