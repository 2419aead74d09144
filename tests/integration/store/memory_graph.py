"""A graph with long-term memory (the store integration tests register it): ``remember`` writes
the input's fact under the user's namespace through the node's ``store`` argument while
``note_visit`` counts the user's visits (two sync nodes in one step, which LangGraph runs on
threads of its own); ``recall`` reads every memory of the user back through ``runtime.store``,
and, given a ``query``, the memories ranked by semantic search (``store.index``) with scores."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict


class Memory(TypedDict, total=False):
    user: str
    fact: str
    query: str
    recalled: list[str]
    ranked: list[dict]


def remember(state: Memory, *, store: BaseStore) -> dict:
    if fact := state.get("fact"):
        store.put(("users", state["user"], "memories"), fact, {"text": fact})
    return {}


def note_visit(state: Memory, runtime: Runtime) -> dict:
    namespace = ("users", state["user"], "visits")
    seen = runtime.store.get(namespace, "count")
    runtime.store.put(namespace, "count", {"n": (seen.value["n"] if seen else 0) + 1})
    return {}


def recall(state: Memory, runtime: Runtime) -> dict:
    namespace = ("users", state["user"], "memories")
    found = runtime.store.search(namespace, limit=100)
    recalled = {"recalled": sorted(item.value["text"] for item in found)}
    if query := state.get("query"):
        ranked = runtime.store.search(namespace, query=query, limit=100)
        recalled["ranked"] = [{"text": item.value["text"], "score": item.score} for item in ranked]
    return recalled


memory = (
    StateGraph(Memory)
    .add_node("remember", remember)
    .add_node("note_visit", note_visit)
    .add_node("recall", recall)
    .add_edge(START, "remember")
    .add_edge(START, "note_visit")
    .add_edge(["remember", "note_visit"], "recall")
    .add_edge("recall", END)
    .compile()
)
