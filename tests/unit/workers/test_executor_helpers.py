"""The built-in executor's pure helpers (``workers.executor``): stream items, the run events a
chunk becomes, node events from LangGraph's ``tasks`` mode, Commands from the API's shape, and
what the stream tells about how the run ended. No database."""

from __future__ import annotations

import pytest
from langgraph.types import Command, Interrupt, Send

from runs import domain as run_domain
from workers import executor


def test_an_item_without_subgraphs_gets_the_root_namespace():
    assert executor._item(("values", {"n": 1})) == ((), "values", {"n": 1})
    assert executor._item((("child:1",), "updates", {})) == (("child:1",), "updates", {})


def test_a_v2_stream_part_is_an_item_and_its_values_keep_their_interrupts():
    interrupt = Interrupt(value="ok?", id="i-1")
    part = {"type": "values", "ns": (), "data": {"n": 1}, "interrupts": (interrupt,)}
    assert executor._v2_item(part) == ((), "values", {"n": 1, "__interrupt__": (interrupt,)})
    quiet = {"type": "values", "ns": (), "data": {"n": 1}, "interrupts": ()}
    assert executor._v2_item(quiet) == ((), "values", {"n": 1})
    message = ({"event": "message-start", "id": "m1"}, {"langgraph_node": "chat"})
    assert executor._v2_item({"type": "messages", "ns": ("child:1",), "data": message}) == (
        ("child:1",),
        "messages",
        message,
    )


# -- chunks -> run events -------------------------------------------------------------------------
def test_a_chunk_of_a_requested_mode_is_recorded_as_json():
    events = executor._output_events([], "updates", {"node": {"n": (1, 2)}}, {"updates"})
    assert events == [
        run_domain.RunOutputStreamed(mode="updates", namespace=[], data={"node": {"n": [1, 2]}})
    ]


def test_root_values_are_always_recorded_and_other_unrequested_modes_never():
    assert executor._output_events([], "values", {"n": 1}, set()) == [
        run_domain.RunOutputStreamed(mode="values", namespace=[], data={"n": 1})
    ]
    assert executor._output_events(["child:1"], "values", {"n": 1}, set()) == []
    assert executor._output_events([], "updates", {"a": {}}, {"values"}) == []


def test_a_task_chunk_is_a_node_event_and_a_chunk_only_if_asked_for():
    start = {"id": "t1", "name": "plan", "input": {}, "triggers": ["start:plan"]}
    assert executor._output_events([], "tasks", start, set()) == [
        run_domain.NodeStarted(node="plan", task_id="t1", namespace=[])
    ]
    recorded = executor._output_events(["sub:2"], "tasks", start, {"tasks"})
    assert recorded == [
        run_domain.NodeStarted(node="plan", task_id="t1", namespace=["sub:2"]),
        run_domain.RunOutputStreamed(mode="tasks", namespace=["sub:2"], data=start),
    ]


def test_node_events_from_tasks_mode():
    started = executor._node_event([], {"id": "t1", "name": "plan", "triggers": []})
    assert started == run_domain.NodeStarted(node="plan", task_id="t1", namespace=[])

    done = executor._node_event(["p:1"], {"id": "t1", "name": "plan", "result": {}, "error": None})
    assert done == run_domain.NodeCompleted(
        node="plan", task_id="t1", namespace=["p:1"], error=None, interrupted=False
    )

    failed = executor._node_event([], {"id": "t1", "name": "plan", "error": "boom"})
    assert failed.error == {"error": "Error", "message": "boom"}

    parked = executor._node_event(
        [], {"id": "t1", "name": "ask", "interrupts": [{"value": "ok?", "id": "i1"}]}
    )
    assert parked.interrupted is True and parked.error is None


# -- commands -------------------------------------------------------------------------------------
def test_a_resume_command():
    assert executor._command({"resume": "yes"}) == Command(resume="yes")


def test_an_update_given_as_pairs_becomes_tuples():
    command = executor._command({"update": [["a", 1], ["b", 2]]})
    assert command.update == [("a", 1), ("b", 2)] and command.goto == ()
    assert executor._command({"update": {"a": 1}}).update == {"a": 1}


@pytest.mark.parametrize(
    ("goto", "expected"),
    [
        ("node", "node"),
        ({"node": "n", "input": {"x": 1}}, Send("n", {"x": 1})),
        ({"node": "n"}, Send("n", None)),
        (["a", {"node": "b", "input": 2}], ["a", Send("b", 2)]),
        (None, ()),
    ],
)
def test_goto_targets_become_sends(goto, expected):
    assert executor._command({"goto": goto}).goto == expected


# -- how the run ended ------------------------------------------------------------------------------
def test_the_last_root_values_are_the_output_without_the_interrupt_key():
    seen = executor.StreamSeen()
    seen.observe("values", {"n": 1})
    seen.observe("values", {"n": 2, "__interrupt__": [{"value": "?"}]})
    assert seen.values == {"n": 2} and seen.interrupted is False
    seen.observe("values", ["not", "a", "dict"])
    assert seen.values == ["not", "a", "dict"]


def test_an_interrupt_in_updates_marks_the_run_interrupted():
    seen = executor.StreamSeen()
    seen.observe("updates", {"plan": {"n": 1}})
    assert seen.interrupted is False
    seen.observe("updates", {"__interrupt__": ()})  # a breakpoint (interrupt_before/after)
    assert seen.interrupted is True and seen.interrupts == {}


def test_interrupts_are_kept_by_task_in_langgraph_platform_s_shape():
    seen = executor.StreamSeen()
    seen.observe("tasks", {"id": "t1", "name": "ask", "interrupts": []})
    assert seen.interrupts == {}
    seen.observe(
        "tasks",
        {
            "id": "t2",
            "name": "ask",
            "interrupts": (Interrupt(value="ok?", id="i1"),),
        },
    )
    assert seen.interrupts == {"t2": [{"value": "ok?", "id": "i1"}]}


def test_an_interrupt_keeps_its_response_schema_only_when_it_has_one():
    assert executor._interrupt({"value": 1, "id": "i", "response_schema": None}) == {
        "value": 1,
        "id": "i",
    }
    schema = {"type": "string"}
    assert executor._interrupt({"value": 1, "id": "i", "response_schema": schema}) == {
        "value": 1,
        "id": "i",
        "response_schema": schema,
    }
