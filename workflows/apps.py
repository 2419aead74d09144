from __future__ import annotations

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows (DAG jobs)"

    def ready(self) -> None:
        from events import projections
        from runs import hooks as run_hooks
        from workflows import projection, services

        for each in (projection.DEFINITIONS, projection.RUNS, projection.JOBS):
            projections.register(each)
        run_hooks.run_ended.register(services.agent_run_ended)
