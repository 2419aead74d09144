"""LangGraph's run-creation body -> the run's stored kwargs (``runs.payloads.build``), by
LangGraph Platform's rules. No database."""

from __future__ import annotations

import uuid

import pytest

from duragraph_site.errors import BadRequest, InvalidInput
from runs import payloads


def build(stateless: bool = False, **payload):
    return payloads.build(payload, stateless=stateless)


def test_an_empty_body_gets_langgraph_s_defaults():
    request = build()
    assert request.kwargs == {
        "input": None,
        "command": None,
        "config": {"configurable": {}},
        "context": {},
        "stream_mode": ["values"],
        "interrupt_before": None,
        "interrupt_after": None,
        "webhook": None,
        "feedback_keys": None,
        "temporary": False,
        "subgraphs": False,
        "resumable": False,
        "checkpoint_during": True,
        "durability": "async",
    }
    assert (request.metadata, request.multitask_strategy, request.after_seconds) == (
        {},
        "enqueue",
        0.0,
    )
    assert (request.if_not_exists, request.on_completion, request.on_disconnect) == (
        "reject",
        "delete",
        "continue",
    )


def test_fields_are_carried_over():
    request = build(
        input={"messages": []},
        metadata={"k": "v"},
        multitask_strategy="rollback",
        after_seconds=2,
        if_not_exists="create",
        on_disconnect="cancel",
        interrupt_before=["plan"],
        interrupt_after="*",
        webhook="https://example.com/hook",
        stream_subgraphs=True,
        stream_resumable=True,
    )
    assert request.kwargs["input"] == {"messages": []}
    assert (request.kwargs["interrupt_before"], request.kwargs["interrupt_after"]) == (
        ["plan"],
        "*",
    )
    assert request.kwargs["subgraphs"] is True and request.kwargs["resumable"] is True
    assert request.kwargs["webhook"] == "https://example.com/hook"
    assert (request.metadata, request.multitask_strategy, request.after_seconds) == (
        {"k": "v"},
        "rollback",
        2.0,
    )
    assert (request.if_not_exists, request.on_disconnect) == ("create", "cancel")


@pytest.mark.parametrize(
    ("stream_mode", "expected"),
    [
        (None, ["values"]),
        ([], ["values"]),
        ("updates", ["updates"]),
        (["messages-tuple", "custom"], ["messages-tuple", "custom"]),
    ],
)
def test_stream_mode_is_a_list_defaulting_to_values(stream_mode, expected):
    assert build(stream_mode=stream_mode).kwargs["stream_mode"] == expected


@pytest.mark.parametrize("mode", payloads.V2_ONLY_STREAM_MODES)
def test_v2_only_stream_modes_are_refused(mode):
    with pytest.raises(InvalidInput, match=mode):
        build(stream_mode=["values", mode])


def test_context_and_configurable_mirror_each_other():
    from_context = build(context={"model": "m"})
    assert from_context.kwargs["context"] == {"model": "m"}
    assert from_context.kwargs["config"] == {"configurable": {"model": "m"}}

    from_configurable = build(config={"tags": ["t"], "configurable": {"model": "m"}})
    assert from_configurable.kwargs["context"] == {"model": "m"}
    assert from_configurable.kwargs["config"] == {"tags": ["t"], "configurable": {"model": "m"}}


def test_both_context_and_configurable_is_a_400():
    with pytest.raises(BadRequest, match="both configurable and context"):
        build(context={"a": 1}, config={"configurable": {"b": 2}})


def test_a_checkpoint_goes_into_configurable_and_not_into_context():
    checkpoint_id = uuid.uuid4()
    request = build(
        context={"model": "m"},
        checkpoint_id=checkpoint_id,
        checkpoint={"checkpoint_ns": "", "checkpoint_map": {}},
    )
    assert request.kwargs["config"]["configurable"] == {
        "model": "m",
        "checkpoint_id": str(checkpoint_id),
        "checkpoint_ns": "",
        "checkpoint_map": {},
    }
    assert request.kwargs["context"] == {"model": "m"}


def test_the_body_is_not_modified():
    config = {"configurable": {"model": "m"}}
    build(config=config, checkpoint_id="c1")
    assert config == {"configurable": {"model": "m"}}


@pytest.mark.parametrize(
    ("fields", "durability"),
    [
        ({}, "async"),
        ({"checkpoint_during": True}, "async"),
        ({"checkpoint_during": False}, "exit"),
        ({"durability": "sync"}, "sync"),
        ({"durability": "async", "checkpoint_during": False}, "async"),  # explicit wins
    ],
)
def test_durability_follows_checkpoint_during_unless_given(fields, durability):
    assert build(**fields).kwargs["durability"] == durability


def test_stateless_runs_are_temporary_unless_kept():
    assert build(stateless=True).kwargs["temporary"] is True
    kept = build(stateless=True, on_completion="keep")
    assert kept.kwargs["temporary"] is False and kept.on_completion == "keep"
    assert build(on_completion="delete").kwargs["temporary"] is False  # a thread's run


def test_resuming_needs_a_thread():
    with pytest.raises(BadRequest, match="thread_id"):
        build(stateless=True, command={"resume": "yes"})
    assert build(command={"resume": "yes"}).kwargs["command"] == {"resume": "yes"}
    # Stateless with a command that is not a resume is fine.
    assert build(stateless=True, command={"goto": "n"}).kwargs["command"] == {"goto": "n"}
