"""Graphs the end-to-end tests register (``DURAGRAPH_GRAPHS`` points here)."""

from __future__ import annotations

import operator
import time
from typing import Annotated

from langchain_core.runnables import RunnableConfig
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


class Effects(TypedDict, total=False):
    #: A file each node appends a line to: the ground truth of how often nodes really ran.
    path: str
    #: Seconds the second node sleeps (long enough to kill its executor during the sleep).
    sleep: float
    log: Annotated[list[str], operator.add]


def _side_effect(node: str):
    def run(state: Effects, config: RunnableConfig) -> dict:
        if node == "slow":
            time.sleep(state.get("sleep", 0))
        with open(state["path"], "a") as log:
            log.write(f"{config['configurable']['run_id']} {node}\n")
        return {"log": [node]}

    return run


#: ``first`` appends a line, then ``slow`` sleeps and appends one: kill the executor mid-sleep
#: and the first line must still appear exactly once when another executor finishes the run.
effects = (
    StateGraph(Effects)
    .add_node("first", _side_effect("first"))
    .add_node("slow", _side_effect("slow"))
    .add_edge(START, "first")
    .add_edge("first", "slow")
    .add_edge("slow", END)
    .compile()
)
