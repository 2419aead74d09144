"""The config a run executes with (``workers.config.effective_config``), shared by the built-in
executor and the remote protocol. No database: any object shaped like the read models will do."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from workers.config import effective_config

RUN_ID, THREAD_ID, ASSISTANT_ID = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


@dataclass
class Assistant:
    graph_id: str = "agent"
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    run_id: uuid.UUID = RUN_ID
    thread_id: uuid.UUID = THREAD_ID
    assistant_id: uuid.UUID = ASSISTANT_ID


IDENTITY = {
    "thread_id": str(THREAD_ID),
    "run_id": str(RUN_ID),
    "assistant_id": str(ASSISTANT_ID),
    "graph_id": "agent",
}


def test_with_nothing_set_the_config_holds_the_run_s_identity():
    assert effective_config(Assistant(), Run()) == {
        "configurable": IDENTITY,
        "run_name": "agent",
        "metadata": {**IDENTITY, "run_attempt": 1},
    }


def test_the_run_s_keys_win_over_the_assistant_s():
    assistant = Assistant(config={"tags": ["a"], "recursion_limit": 5, "run_name": "named"})
    run = Run(kwargs={"config": {"recursion_limit": 9}})
    config = effective_config(assistant, run)
    assert (config["tags"], config["recursion_limit"], config["run_name"]) == (["a"], 9, "named")


def test_configurable_layers_context_assistant_run_then_identity():
    assistant = Assistant(
        context={"model": "ctx", "a": 1},
        config={"configurable": {"model": "assistant", "b": 2}},
    )
    run = Run(kwargs={"config": {"configurable": {"b": 3, "run_id": "forged", "c": 4}}})
    assert effective_config(assistant, run)["configurable"] == {
        "model": "assistant",
        "a": 1,
        "b": 3,
        "c": 4,
        **IDENTITY,  # nobody overrides who the run is
    }


def test_metadata_layers_assistant_config_run_then_identity_and_attempt():
    assistant = Assistant(
        metadata={"created_by": "system", "k": "assistant"},
        config={"metadata": {"k": "config", "tier": "gold"}},
    )
    run = Run(metadata={"k": "run", "graph_id": "forged"}, attempt=3)
    assert effective_config(assistant, run)["metadata"] == {
        "created_by": "system",
        "k": "run",
        "tier": "gold",
        **IDENTITY,
        "run_attempt": 3,
    }


def test_the_inputs_are_not_modified():
    assistant = Assistant(config={"configurable": {"a": 1}, "metadata": {"m": 1}}, context={"c": 1})
    run = Run(kwargs={"config": {"configurable": {"b": 2}, "metadata": {"n": 1}}})
    before = copy.deepcopy((assistant, run))
    config = effective_config(assistant, run)
    config["configurable"]["a"] = "changed"
    config["metadata"]["m"] = "changed"
    assert (assistant, run) == before
