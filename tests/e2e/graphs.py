"""Graphs the end-to-end tests register (``DURAGRAPH_GRAPHS`` points here)."""

from __future__ import annotations

import operator
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class Items(TypedDict):
    items: Annotated[list[str], operator.add]


def _a(state: Items) -> dict:
    return {"items": ["a"]}


def _b(state: Items) -> dict:
    return {"items": ["b"]}


#: The two-node graph of the LangGraph reference notes: input ["x"] -> ["x", "a", "b"].
simple = (
    StateGraph(Items)
    .add_node("a", _a)
    .add_node("b", _b)
    .add_edge(START, "a")
    .add_edge("a", "b")
    .add_edge("b", END)
    .compile()
)
