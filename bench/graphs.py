"""Graphs the benchmarks run, identical for our server and ``langgraph dev``. No LLM, no I/O."""

from __future__ import annotations

import operator
import time
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class Count(TypedDict):
    steps: Annotated[int, operator.add]


def _step(state: Count) -> dict:
    return {"steps": 1}


def chain(length: int):
    """A linear graph of *length* no-op nodes."""
    graph = StateGraph(Count)
    names = [f"n{i}" for i in range(length)]
    for name in names:
        graph.add_node(name, _step)
    graph.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    return graph.compile()


noop3 = chain(3)
chain1 = chain(1)
chain20 = chain(20)


class Sleepy(TypedDict, total=False):
    sleep: float
    done: Annotated[list[str], operator.add]


def _fast(state: Sleepy) -> dict:
    return {"done": ["fast"]}


def _sleep(state: Sleepy) -> dict:
    time.sleep(state.get("sleep", 1.0))
    return {"done": ["slow"]}


#: For the crash measurement: kill the executor while ``slow`` sleeps.
sleepy = (
    StateGraph(Sleepy)
    .add_node("fast", _fast)
    .add_node("slow", _sleep)
    .add_edge(START, "fast")
    .add_edge("fast", "slow")
    .add_edge("slow", END)
    .compile()
)

GRAPHS = {name: f"{__file__}:{name}" for name in ("noop3", "chain1", "chain20", "sleepy")}
