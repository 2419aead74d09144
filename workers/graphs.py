"""Graphs that remote workers serve, as the graph registry sees them.

Known by the definition their workers registered (``WorkerGraph``); found by the registry
through ``assistants.hooks.graph_lookup`` (registered in ``WorkersConfig.ready``). They cannot be
executed in this process: their runs go to the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistants.graphs import GraphLoadError
from workers import protocol
from workers.models import WorkerGraph


@dataclass
class RemoteGraph:
    """A graph of the registry served by remote workers (``assistants.graphs.Graph``)."""

    graph_id: str
    definition: dict[str, Any]
    local = False

    def drawable(
        self, config: dict[str, Any] | None = None, *, xray: bool | int = False
    ) -> dict[str, Any]:
        return protocol.drawable(self.definition)

    def schemas(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict.fromkeys(
            ("input_schema", "output_schema", "state_schema", "config_schema", "context_schema")
        )

    def subgraphs(
        self,
        config: dict[str, Any] | None = None,
        *,
        namespace: str | None = None,
        recurse: bool = False,
    ) -> dict[str, Any]:
        return {}

    def load(self, config: dict[str, Any] | None = None) -> Any:
        raise GraphLoadError(
            f"Graph {self.graph_id!r} is served by remote workers and cannot run in this process"
        )


def remote_graph(*, graph_id: str) -> RemoteGraph | None:
    """``assistants.hooks.graph_lookup``: the graph remote workers registered as *graph_id*."""
    definition = (
        WorkerGraph.objects.filter(graph_id=graph_id).values_list("definition", flat=True).first()
    )
    return RemoteGraph(graph_id, definition) if definition is not None else None
