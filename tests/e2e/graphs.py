"""Graphs the end-to-end tests register (``DURAGRAPH_GRAPHS`` points here)."""

from __future__ import annotations

import operator
import os
import time
from typing import Annotated

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import CachePolicy
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


class Chain(TypedDict, total=False):
    #: A file each node appends ``run_id node pid started_at`` to as it starts: the ground truth
    #: of which node really ran, where and when (the chaos test compares it with the event log).
    path: str
    #: Seconds each node works.
    pause: float
    steps: Annotated[list[str], operator.add]


CHAIN_NODES = ("n1", "n2", "n3", "n4", "n5")


def _link(node: str):
    def run(state: Chain, config: RunnableConfig) -> dict:
        with open(state["path"], "a") as log:
            log.write(
                f"{config['configurable']['run_id']} {node} {os.getpid()} {time.time():.6f}\n"
            )
        time.sleep(state.get("pause", 0))
        return {"steps": [node]}

    return run


def _chain() -> object:
    builder = StateGraph(Chain)
    previous = START
    for node in CHAIN_NODES:
        builder.add_node(node, _link(node))
        builder.add_edge(previous, node)
        previous = node
    builder.add_edge(previous, END)
    return builder.compile()


#: Five nodes in a row, each recording that it ran: the chaos test's backlog (tests/e2e/chaos.py).
chain = _chain()


class Work(TypedDict, total=False):
    ledger: str
    n: int
    result: int


def _expensive(state: Work) -> dict:
    """Appends a line to the file the input names at each real execution: tests count them."""
    with open(state["ledger"], "a") as ledger:  # noqa: PTH123 - a path from the input
        ledger.write(f"{state['n']}\n")
    return {"result": state["n"] ** 2}


#: A node with a CachePolicy (the node cache tests): ``n`` -> ``n ** 2``, computed once per input.
cached = (
    StateGraph(Work)
    .add_node("expensive", _expensive, cache_policy=CachePolicy(ttl=600))
    .add_edge(START, "expensive")
    .add_edge("expensive", END)
    .compile()
)


class Delegated(TypedDict):
    items: list[str]


def _after_remote(state: Delegated) -> dict:
    return {"items": [*state["items"], "local"]}


#: ``simple`` of another deployment as a subgraph (LangGraph's ``RemoteGraph`` over that
#: deployment's API, at ``DURAGRAPH_REMOTE_URL`` in the executor's environment), then a local
#: node: ["x"] -> ["x", "a", "b", "local"]. ``items`` has no reducer: the remote graph's answer
#: is the whole state.
delegating = (
    StateGraph(Delegated)
    .add_node(
        "remote",
        RemoteGraph("simple", url=os.environ.get("DURAGRAPH_REMOTE_URL", "http://127.0.0.1:9")),
    )
    .add_node("local", _after_remote)
    .add_edge(START, "remote")
    .add_edge("remote", "local")
    .add_edge("local", END)
    .compile()
)


class Seen(TypedDict, total=False):
    names: list[str]
    seen: dict[str, object]


def _look(state: Seen, config: RunnableConfig) -> dict:
    configurable = config["configurable"]
    return {"seen": {name: configurable.get(name) for name in state["names"]}}


#: What the run's ``config.configurable`` holds under each of the input's ``names`` (the
#: request headers ``http.configurable_headers`` lets through).
headers = (
    StateGraph(Seen).add_node("look", _look).add_edge(START, "look").add_edge("look", END).compile()
)


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _call_add(state: MessagesState) -> dict:
    call = {"name": "add", "args": {"a": 2, "b": 3}, "id": "call-add-1", "type": "tool_call"}
    return {"messages": [AIMessage(content="", tool_calls=[call])]}


#: A model's tool call (made up: no LLM) that a ``ToolNode`` runs: the ``tools`` stream mode
#: has something to show.
tooled = (
    StateGraph(MessagesState)
    .add_node("model", _call_add)
    .add_node("tools", ToolNode([add]))
    .add_edge(START, "model")
    .add_edge("model", "tools")
    .add_edge("tools", END)
    .compile()
)
