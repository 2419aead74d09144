"""A worker's event -> its run's progress (``workers.protocol.progress``): what each SDK event
records, checkpoints in LangGraph's format, and nothing read that the event does not need. No
database: the translation is pure, its effect (``workers.remote``) is tested on PostgreSQL."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from duragraph_site.errors import InvalidInput
from runs import domain as run_domain
from threads import domain as thread_domain
from workers import protocol

RUN_ID = uuid.UUID("0193e0f2-0000-7000-8000-000000000001")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CHECKPOINT_ID = "1f0c0000-0000-6000-8000-000000000001"


def progress(event_type: str, data: dict | None = None, **known) -> protocol.Progress:
    run = protocol.RunSoFar(run_id=RUN_ID, **known)
    return protocol.progress(event_type, data or {}, run, now=NOW, checkpoint_id=CHECKPOINT_ID)


def payloads(result: protocol.Progress) -> list[tuple[str, dict]]:
    """The output events as stored: each round-tripped through JSON, as the log keeps it."""
    stored = []
    for event in result.output:
        payload = orjson.loads(orjson.dumps(event.to_payload()))
        assert type(event).model_validate(payload) == event
        stored.append((event.type_name, payload))
    return stored


def test_run_started_streams_the_task_s_input_as_the_first_values():
    result = progress("run_started", {"thread_id": "t"}, task_input={"name": "Django"})
    assert payloads(result) == [
        ("RunOutputStreamed", {"mode": "values", "namespace": [], "data": {"name": "Django"}})
    ]
    assert (result.checkpoint, result.ending) == (None, None)


def test_node_started_is_a_node_event():
    result = progress("node_started", {"node_id": "greet"})
    assert result.output == (run_domain.NodeStarted(node="greet", task_id="greet"),)
    assert (result.checkpoint, result.ending) == (None, None)


def test_node_completed_streams_its_update_the_state_so_far_and_checkpoints_it():
    result = progress(
        "node_completed",
        {"node_id": "greet", "output": {"greeting": "Hello"}},
        latest_values={"name": "Django", "greeting": "old"},
    )
    state = {"name": "Django", "greeting": "Hello"}
    assert result.output == (
        run_domain.NodeCompleted(node="greet", task_id="greet"),
        run_domain.RunOutputStreamed(mode="updates", data={"greet": {"greeting": "Hello"}}),
        run_domain.RunOutputStreamed(mode="values", data=state),
    )
    assert result.checkpoint == protocol.CheckpointDraft(
        CHECKPOINT_ID, state, "greet", "2026-01-01T12:00:00+00:00"
    )
    assert result.ending is None


@pytest.mark.parametrize("output", ["path_a", None, [1, 2]])
def test_a_node_output_that_is_not_an_object_is_an_update_but_leaves_the_state(output):
    result = progress(
        "node_completed", {"node_id": "route", "output": output}, latest_values={"n": 1}
    )
    assert result.output[1] == run_domain.RunOutputStreamed(mode="updates", data={"route": output})
    assert result.output[2] == run_domain.RunOutputStreamed(mode="values", data={"n": 1})
    assert result.checkpoint.values == {"n": 1}


def test_the_first_node_of_a_run_starts_from_no_state():
    result = progress("node_completed", {"node_id": "a", "output": {"x": 1}})
    assert result.checkpoint.values == {"x": 1}


def test_run_completed_ends_in_success_with_a_last_checkpoint_only_if_the_state_changed():
    same = progress("run_completed", {"output": {"n": 1}}, latest_values={"n": 1})
    assert same == protocol.Progress(ending=protocol.Completed({"n": 1}))

    changed = progress("run_completed", {"output": {"n": 2}}, latest_values={"n": 1})
    assert changed.ending == protocol.Completed({"n": 2})
    assert changed.checkpoint == protocol.CheckpointDraft(
        CHECKPOINT_ID, {"n": 2}, protocol.END, NOW.isoformat()
    )
    assert changed.output == ()

    not_an_object = progress("run_completed", {"output": "done"}, latest_values={"n": 1})
    assert not_an_object == protocol.Progress(ending=protocol.Completed("done"))


def test_run_failed_ends_in_error_with_the_worker_s_message():
    assert progress("run_failed", {"error": "boom"}).ending == protocol.Failed(
        "WorkerError", "boom"
    )
    assert progress("run_failed").ending == protocol.Failed(
        "WorkerError", "the worker reported a failure"
    )


def test_requires_action_interrupts_with_the_action_and_keeps_the_state():
    data = {"action_type": "human_review", "prompt": "Approve?", "state": {"draft": "d1"}}
    result = progress("run_requires_action", data)
    interrupt = {
        "value": {"action_type": "human_review", "prompt": "Approve?"},
        "id": uuid.uuid5(RUN_ID, "requires_action").hex,  # the same on every delivery
    }
    assert result == protocol.Progress(
        ending=protocol.Interrupted({str(RUN_ID): [interrupt]}, {"draft": "d1"})
    )


def test_an_unknown_event_type_is_refused():
    with pytest.raises(InvalidInput, match="event_type must be one of"):
        progress("node_failed")
    with pytest.raises(InvalidInput):
        protocol.check_event_type("human_required")
    for event_type in protocol.EVENT_TYPES:
        protocol.check_event_type(event_type)


def test_the_reads_each_event_needs_are_named():
    assert protocol.NEEDS_TASK_INPUT == {"run_started"}
    assert protocol.NEEDS_LATEST_VALUES == {"node_completed", "run_completed"}
    assert set(protocol.EVENT_TYPES) >= protocol.NEEDS_TASK_INPUT | protocol.NEEDS_LATEST_VALUES


# -- checkpoints ----------------------------------------------------------------------------------
def test_a_first_checkpoint_is_step_0_without_a_parent():
    draft = protocol.CheckpointDraft(CHECKPOINT_ID, {"n": 1}, "greet", NOW.isoformat())
    fields = protocol.checkpoint_fields(draft, run_id=RUN_ID, parent=None)
    assert fields["parent_checkpoint_id"] is None and fields["metadata"]["step"] == 0
    assert fields["checkpoint_ns"] == "" and fields["checkpoint_id"] == CHECKPOINT_ID
    assert fields["metadata"] == {
        "source": "loop",
        "step": 0,
        "run_id": str(RUN_ID),
        "writes": None,
        "node": "greet",
        "parents": {},
    }
    assert fields["values"] == {"n": 1}


def test_a_checkpoint_follows_its_parent_and_is_what_langgraph_reads():
    draft = protocol.CheckpointDraft(CHECKPOINT_ID, {"n": 2}, protocol.END, NOW.isoformat())
    parent = protocol.ParentCheckpoint.from_row("1f0b", {"step": 4, "source": "loop"})
    fields = protocol.checkpoint_fields(draft, run_id=RUN_ID, parent=parent)
    assert (fields["parent_checkpoint_id"], fields["metadata"]["step"]) == ("1f0b", 5)

    saved = thread_domain.CheckpointSaved(**fields)  # what run_save_checkpoint accepts
    blob = base64.b64decode(saved.checkpoint.data)
    checkpoint = JsonPlusSerializer().loads_typed((saved.checkpoint.type, blob))
    assert checkpoint["v"] == 4 and checkpoint["id"] == CHECKPOINT_ID
    assert checkpoint["channel_values"] == {"n": 2} and checkpoint["ts"] == NOW.isoformat()


@pytest.mark.parametrize(("metadata", "step"), [(None, -1), ({}, -1), ({"step": "3"}, 3)])
def test_a_parent_without_a_step_is_followed_by_step_0(metadata, step):
    assert protocol.ParentCheckpoint.from_row("c", metadata).step == step
