from __future__ import annotations

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        from assistants import hooks as assistant_hooks
        from workers import graphs, metrics  # noqa: F401 - metrics: registers its collector

        assistant_hooks.graph_lookup.register(graphs.remote_graph)
