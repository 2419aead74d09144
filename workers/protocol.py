"""The DuraGraph worker protocol as ``duragraph==0.3.3`` speaks it: pure translation, no I/O.

Graph definitions arrive in two shapes (0.3.3 sends them flat, 0.2.1 nested as IR); edges may
target a node name or a ``{key: node}`` map. Tasks go out with ``input`` never null (the SDK
calls ``.copy()`` on it). See /work/shared/reference notes summarised in docs/remote-workers.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from duragraph_site.errors import InvalidInput

START, END = "__start__", "__end__"


@dataclass(frozen=True)
class GraphDefinition:
    graph_id: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    entry_point: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "graph_id": self.graph_id,
            "nodes": self.nodes,
            "edges": self.edges,
            "entry_point": self.entry_point,
        }


def parse_graph_definition(item: Any) -> GraphDefinition:
    """Either shape, validated: a graph id, nodes with ids, edges with a source and target(s)."""
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("graph_id"), str)
        or not item["graph_id"]
    ):
        raise InvalidInput("graph_definitions: each item needs a non-empty string graph_id")
    graph_id = item["graph_id"]
    body = item
    if isinstance(
        item.get("definition"), dict
    ):  # 0.2.1: {"graph_id", "definition": {"graph": {...}}}
        body = item["definition"].get("graph") or {}
    nodes = body.get("nodes") or []
    edges = body.get("edges") or []
    if not isinstance(nodes, list) or not all(
        isinstance(n, dict) and isinstance(n.get("id"), str) for n in nodes
    ):
        raise InvalidInput(
            f"graph_definitions[{graph_id}].nodes must be a list of objects with a string id"
        )
    if not isinstance(edges, list) or not all(
        isinstance(e, dict) and isinstance(e.get("source"), str) for e in edges
    ):
        raise InvalidInput(
            f"graph_definitions[{graph_id}].edges must be a list of objects with a string source"
        )
    entry = body.get("entry_point") or body.get("entrypoint")
    if entry is None:
        entry = next((n["id"] for n in nodes if (n.get("config") or {}).get("is_entrypoint")), None)
    return GraphDefinition(
        graph_id=graph_id,
        nodes=nodes,
        edges=edges,
        entry_point=entry if isinstance(entry, str) else None,
    )


def drawable(definition: dict[str, Any]) -> dict[str, Any]:
    """LangGraph's graph JSON (``/assistants/{id}/graph``) for a registered definition."""
    nodes = [{"id": START, "type": "runnable", "data": {"name": START}}]
    nodes += [
        {"id": node["id"], "type": "runnable", "data": {"name": node["id"]}}
        for node in definition["nodes"]
    ]
    nodes.append({"id": END, "type": "runnable", "data": {"name": END}})
    edges: list[dict[str, Any]] = []
    if definition.get("entry_point"):
        edges.append({"source": START, "target": definition["entry_point"]})
    has_outgoing = set()
    for edge in definition["edges"]:
        has_outgoing.add(edge["source"])
        target = edge.get("target")
        if isinstance(target, dict):  # {route key: node}: a conditional edge per route
            edges += [
                {"source": edge["source"], "target": node, "data": key, "conditional": True}
                for key, node in target.items()
            ]
        elif isinstance(target, str):
            edges.append(
                {
                    "source": edge["source"],
                    "target": target,
                    **({"conditional": True} if edge.get("conditional") else {}),
                }
            )
    edges += [
        {"source": node["id"], "target": END}
        for node in definition["nodes"]
        if node["id"] not in has_outgoing
    ]
    return {"nodes": nodes, "edges": edges}


def task_input(kwargs: dict[str, Any], thread_values: Any) -> dict[str, Any]:
    """The task's ``input``: a JSON object, never null.

    A run that resumes an interrupted thread (``command.resume``) gets the thread's values with
    the answer under ``resume``: the SDK has no resume path of its own, so the graph sees it
    as input.
    """
    command = kwargs.get("command") or {}
    base = kwargs.get("input")
    if base is None and ("resume" in command or "update" in command):
        base = thread_values if isinstance(thread_values, dict) else {}
    task = dict(base) if isinstance(base, dict) else ({} if base is None else {"input": base})
    if isinstance(command.get("update"), dict):
        task.update(command["update"])
    if "resume" in command:
        task["resume"] = command["resume"]
    return task
