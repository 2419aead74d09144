"""Example graphs that ``make dev`` registers (through ``langgraph.json``). No LLM or network needed.

- ``agent``: two nodes that append to a message list (the hello world of LangGraph).
- ``chat``: a fake chat model that streams tokens (``messages`` stream mode works offline).
- ``approval``: asks a human with ``interrupt()``; resume it with ``Command(resume=...)``.
- ``slow``: three steps that each sleep, to watch progress live or kill a worker mid-run.
"""

from __future__ import annotations

import operator
import time
from typing import Annotated

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class Steps(TypedDict):
    steps: Annotated[list[str], operator.add]


def _think(state: Steps) -> dict:
    return {"steps": ["thought about it"]}


def _respond(state: Steps) -> dict:
    return {"steps": [f"answered after {len(state['steps'])} step(s)"]}


agent = StateGraph(Steps).add_node("think", _think).add_node("respond", _respond)
agent = (
    agent.add_edge(START, "think").add_edge("think", "respond").add_edge("respond", END).compile()
)


def _chat(state: MessagesState) -> dict:
    model = GenericFakeChatModel(
        messages=iter([AIMessage(content="Hello from DuraGraph, token by token.")])
    )
    reply: AnyMessage = model.invoke(state["messages"])
    return {"messages": [reply]}


chat = (
    StateGraph(MessagesState)
    .add_node("chat", _chat)
    .add_edge(START, "chat")
    .add_edge("chat", END)
    .compile()
)


class Approval(TypedDict):
    request: str
    decision: str


def _ask(state: Approval) -> dict:
    answer = interrupt({"question": f"Approve {state.get('request', 'this')}?"})
    return {"decision": str(answer)}


approval = (
    StateGraph(Approval).add_node("ask", _ask).add_edge(START, "ask").add_edge("ask", END).compile()
)


class Progress(TypedDict):
    done: Annotated[list[int], operator.add]


def _step(number: int):
    def step(state: Progress) -> dict:
        time.sleep(1)
        return {"done": [number]}

    return step


_slow = StateGraph(Progress)
for _n in (1, 2, 3):
    _slow.add_node(f"step_{_n}", _step(_n))
slow = (
    _slow.add_edge(START, "step_1")
    .add_edge("step_1", "step_2")
    .add_edge("step_2", "step_3")
    .add_edge("step_3", END)
    .compile()
)
