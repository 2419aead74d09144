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


# -- the request's headers in configurable (http.configurable_headers) -------------------------

HEADERS = {
    "X-User-Id": "ada",
    "x-org.name": "analytical",
    "X-Org-Secret": "hidden",
    "Authorization": "Bearer t",
    "X-Api-Key": "k",
    "X-Tenant-Id": "t1",
    "X-Service-Key": "s",
    "User-Agent": "langgraph-sdk-py/0.4",
}


def test_no_patterns_copy_nothing_but_the_trace():
    assert payloads.request_headers(HEADERS, (), ()) == {}
    traced = {**HEADERS, "langsmith-trace": "abc"}
    assert payloads.request_headers(traced, (), ()) == {"langsmith-trace": "abc"}


def test_included_names_are_copied_lower_cased_unless_excluded():
    found = payloads.request_headers(HEADERS, ("x-user-*", "x-org*", "user-agent"), ("*secret",))
    assert found == {
        "x-user-id": "ada",
        "x-org.name": "analytical",
        "user-agent": "langgraph-sdk-py/0.4",
    }


def test_credentials_are_never_copied_even_when_included():
    assert payloads.request_headers(HEADERS, ("*",), ("user-*", "x-org*", "x-user-*")) == {}


def test_a_pattern_is_literal_but_for_the_star():
    headers = {"x-orgzname": "no", "x-org.name": "yes", "x-a": "short"}
    assert payloads.request_headers(headers, ("x-org.name", "x-?"), ()) == {"x-org.name": "yes"}
    assert payloads.request_headers(headers, ("x-org",), ()) == {}, "the whole name must match"


def test_the_trace_s_baggage_brings_langsmith_metadata_tags_and_project():
    baggage = (
        "langsmith-metadata=%7B%22user%22%3A%22ada%22%7D, langsmith-tags=a%2Cb,"
        "langsmith-project=demo,other=ignored"
    )
    found = payloads.request_headers({"langsmith-trace": "t", "baggage": baggage}, (), ())
    assert found == {
        "langsmith-trace": "t",
        "langsmith-metadata": {"user": "ada"},
        "langsmith-tags": ["a", "b"],
        "langsmith-project": "demo",
    }


@pytest.mark.parametrize("metadata", ["%7Bbroken", "%5B1%5D", "3"])
def test_malformed_trace_metadata_is_left_out_not_fatal(metadata):
    found = payloads.request_headers(
        {"langsmith-trace": "t", "baggage": f"langsmith-metadata={metadata}"}, (), ()
    )
    assert found == {"langsmith-trace": "t"}


def test_headers_join_configurable_over_the_body_and_leave_context_alone():
    request = payloads.build(
        {"context": {"x-user-id": "from-body", "model": "m"}},
        stateless=False,
        headers={"x-user-id": "ada"},
    )
    assert request.kwargs["config"]["configurable"] == {"x-user-id": "ada", "model": "m"}
    assert request.kwargs["context"] == {"x-user-id": "from-body", "model": "m"}
