"""A graph with long-term memory (the store integration tests register it): ``remember`` writes
the input's fact under the user's namespace through the node's ``store`` argument, ``recall``
reads every memory of the user back through ``runtime.store``."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict


class Memory(TypedDict, total=False):
    user: str
    fact: str
    recalled: list[str]


def remember(state: Memory, *, store: BaseStore) -> dict:
    if fact := state.get("fact"):
        store.put(("users", state["user"], "memories"), fact, {"text": fact})
    return {}


def recall(state: Memory, runtime: Runtime) -> dict:
    found = runtime.store.search(("users", state["user"], "memories"), limit=100)
    return {"recalled": sorted(item.value["text"] for item in found)}


memory = (
    StateGraph(Memory)
    .add_node("remember", remember)
    .add_node("recall", recall)
    .add_edge(START, "remember")
    .add_edge("remember", "recall")
    .add_edge("recall", END)
    .compile()
)
