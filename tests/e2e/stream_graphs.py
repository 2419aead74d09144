"""Graphs for the streaming tests: each SSE stream mode has something to show.

Registered on our e2e server (``E2E_GRAPH_SPECS`` in ``tests/e2e/conftest.py``) and on the
reference ``langgraph dev`` by ``tests/e2e/record_reference_streams.py``: the same module, so the
same graphs, produce the fixture and the output it is compared to. No LLM, no network.

- ``writer``: two nodes; both write ``custom`` chunks with ``get_stream_writer()``.
- ``chatty``: a fake chat model (``GenericFakeChatModel``) that streams its reply token by token.
- ``nested``: a parent graph whose middle node is a subgraph that writes ``custom`` chunks
  (``stream_subgraphs`` names its events ``<mode>|child:<task id>``).
- ``failing``: its second node raises ``ValueError``: the stream ends with ``error``.
- ``paced``: three nodes that each sleep ``delay`` seconds and write a ``custom`` chunk, so a
  client can join or drop a run halfway.
"""

from __future__ import annotations

import operator
import time
from typing import Annotated

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from typing_extensions import TypedDict


class Items(TypedDict):
    items: Annotated[list[str], operator.add]


def _plan(state: Items) -> dict:
    write = get_stream_writer()
    write({"progress": "planning", "step": 1})
    write({"progress": "planned", "step": 2})
    return {"items": ["planned"]}


def _act(state: Items) -> dict:
    get_stream_writer()(f"acting on {len(state['items'])} item(s)")
    return {"items": ["acted"]}


writer = (
    StateGraph(Items)
    .add_node("plan", _plan)
    .add_node("act", _act)
    .add_edge(START, "plan")
    .add_edge("plan", "act")
    .add_edge("act", END)
    .compile()
)

#: What the fake model answers; it streams it split on whitespace, one chunk per token.
CHAT_REPLY = "Streaming from a fake chat model"


def _chat(state: MessagesState) -> dict:
    model = GenericFakeChatModel(messages=iter([AIMessage(content=CHAT_REPLY)]))
    return {"messages": [model.invoke(state["messages"])]}


chatty = (
    StateGraph(MessagesState)
    .add_node("chat", _chat)
    .add_edge(START, "chat")
    .add_edge("chat", END)
    .compile()
)


def _inner(state: Items) -> dict:
    get_stream_writer()({"inner": len(state["items"])})
    return {"items": ["inner"]}


_child = StateGraph(Items).add_node("inner", _inner).add_edge(START, "inner").compile()


def _prepare(state: Items) -> dict:
    return {"items": ["prepared"]}


nested = (
    StateGraph(Items)
    .add_node("prepare", _prepare)
    .add_node("child", _child)
    .add_edge(START, "prepare")
    .add_edge("prepare", "child")
    .add_edge("child", END)
    .compile()
)


def _ok(state: Items) -> dict:
    return {"items": ["ok"]}


def _boom(state: Items) -> dict:
    raise ValueError("boom in the second node")


failing = (
    StateGraph(Items)
    .add_node("ok", _ok)
    .add_node("boom", _boom)
    .add_edge(START, "ok")
    .add_edge("ok", "boom")
    .add_edge("boom", END)
    .compile()
)


class Paced(TypedDict, total=False):
    delay: float
    done: Annotated[list[int], operator.add]


def _paced_step(number: int):
    def step(state: Paced) -> dict:
        time.sleep(state.get("delay", 0.5))
        get_stream_writer()({"step": number})
        return {"done": [number]}

    return step


_paced = StateGraph(Paced)
for _n in (1, 2, 3):
    _paced.add_node(f"step_{_n}", _paced_step(_n))
paced = (
    _paced.add_edge(START, "step_1")
    .add_edge("step_1", "step_2")
    .add_edge("step_2", "step_3")
    .add_edge("step_3", END)
    .compile()
)
