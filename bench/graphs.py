"""Graphs the benchmarks run, identical for our server and ``langgraph dev``. No LLM, no I/O."""

from __future__ import annotations

import operator
import time
from typing import Annotated

from langgraph.config import get_stream_writer
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


class Ticks(TypedDict, total=False):
    wait: float
    ticks: int
    interval: float
    sent: int


def _tick(state: Ticks) -> dict:
    time.sleep(state.get("wait", 0.0))
    write = get_stream_writer()
    ticks = state.get("ticks", 100)
    for tick in range(ticks):
        # Stamped right before the write: the client's arrival time minus this is the latency.
        write({"tick": tick, "emitted": time.time()})
        time.sleep(state.get("interval", 0.02))
    return {"sent": ticks}


#: For the streaming latency: sleeps ``wait`` s (clients join meanwhile), then writes ``ticks``
#: custom chunks ``{"tick", "emitted"}`` ``interval`` s apart.
ticker = (
    StateGraph(Ticks)
    .add_node("tick", _tick)
    .add_edge(START, "tick")
    .add_edge("tick", END)
    .compile()
)


def _pause(state: Count) -> dict:
    time.sleep(0.05)
    return {"steps": 1}


def _paced_chain(length: int):
    graph = StateGraph(Count)
    names = [f"p{i}" for i in range(length)]
    for name in names:
        graph.add_node(name, _pause)
    graph.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    return graph.compile()


#: For the dashboard's latency: 10 nodes of 50 ms each, 20 node transitions a run.
pulse10 = _paced_chain(10)

GRAPHS = {
    name: f"{__file__}:{name}"
    for name in ("noop3", "chain1", "chain20", "sleepy", "ticker", "pulse10")
}
