"""Thread services on real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from duragraph_site.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from events import store
from events.testing import capture_outbox
from runs import services as run_services
from runs.models import Run
from threads import services
from threads.models import Thread

pytestmark = pytest.mark.django_db


def test_create_with_generated_uuid7_id():
    with capture_outbox(expected=1) as outbox:
        thread = services.thread_create(metadata={"a": 1}, ttl={"strategy": "delete", "ttl": 10})
    assert thread.thread_id.version == 7
    assert (thread.status, thread.metadata, thread.values, thread.ttl) == (
        "idle",
        {"a": 1},
        None,
        {"strategy": "delete", "ttl": 10},
    )
    assert outbox.rows[0].event.type == "ThreadCreated"


def test_create_with_an_existing_id_raises_or_returns_it(log_counter):
    thread = services.thread_create(thread_id=uuid.uuid4())
    before = log_counter.snapshot()
    with pytest.raises(Conflict):
        services.thread_create(thread_id=thread.thread_id)
    assert (
        services.thread_create(thread_id=thread.thread_id, if_exists="do_nothing").pk == thread.pk
    )
    assert log_counter.snapshot() == before
    with pytest.raises(InvalidInput, match="if_exists"):
        services.thread_create(if_exists="maybe")


def test_update_merges_metadata():
    thread = services.thread_create(metadata={"a": 1})
    updated = services.thread_update(thread_id=thread.thread_id, metadata={"b": 2})
    assert updated.metadata == {"a": 1, "b": 2}
    assert updated.updated_at > thread.updated_at


@pytest.mark.parametrize("metadata", [["x"], {"t": {1, 2}}, {"f": float("nan")}])
def test_non_json_metadata_is_refused_and_writes_nothing(log_counter, metadata):
    thread = services.thread_create()
    before = log_counter.snapshot()
    with pytest.raises(InvalidInput):
        services.thread_update(thread_id=thread.thread_id, metadata=metadata)
    with pytest.raises(InvalidInput):
        services.thread_create(metadata=metadata)
    assert log_counter.snapshot() == before


def test_unknown_ids_are_not_found(log_counter):
    before = log_counter.snapshot()
    for command in (
        lambda: services.thread_update(thread_id=uuid.uuid4(), metadata={}),
        lambda: services.thread_delete(thread_id=uuid.uuid4()),
        lambda: services.thread_copy(thread_id=uuid.uuid4()),
    ):
        with pytest.raises(NotFound):
            command()
    assert log_counter.snapshot() == before


def test_delete_removes_the_thread_and_its_runs_and_cancels_active_ones(assistant):
    thread = services.thread_create()
    done = run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    run_services.run_start(run_id=done.run_id, worker_id="w")
    run_services.run_complete(run_id=done.run_id, lease_epoch=1)
    active = run_services.run_create(
        thread_id=thread.thread_id, assistant_id=assistant.assistant_id
    )
    services.thread_delete(thread_id=thread.thread_id)
    assert not Thread.objects.filter(pk=thread.pk).exists()
    assert not Run.objects.filter(thread_id=thread.thread_id).exists()
    assert [e.type for e in store.load(active.run_id)] == [
        "RunCreated",
        "RunCancelled",
        "RunDeleted",
    ]
    assert [e.type for e in store.load(done.run_id)][-1] == "RunDeleted"
    assert [e.type for e in store.load(thread.thread_id)][-1] == "ThreadDeleted"
    with pytest.raises(NotFound):
        services.thread_update(thread_id=thread.thread_id, metadata={})


def test_a_deleted_thread_id_can_be_created_again():
    thread = services.thread_create(thread_id=uuid.uuid4(), metadata={"v": 1})
    services.thread_delete(thread_id=thread.thread_id)
    again = services.thread_create(thread_id=thread.thread_id, metadata={"v": 2})
    assert again.metadata == {"v": 2} and again.version == 3
    assert [e.type for e in store.load(thread.thread_id)] == [
        "ThreadCreated",
        "ThreadDeleted",
        "ThreadCreated",
    ]


def test_copy_carries_metadata_and_values(assistant):
    thread = services.thread_create(metadata={"topic": "x"})
    run = run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    run_services.run_start(run_id=run.run_id, worker_id="w")
    run_services.run_complete(run_id=run.run_id, lease_epoch=1, output={"messages": ["hi"]})
    copy = services.thread_copy(thread_id=thread.thread_id)
    assert copy.thread_id != thread.thread_id
    assert (copy.values, copy.status, copy.copied_from) == (
        {"messages": ["hi"]},
        "idle",
        thread.thread_id,
    )
    assert copy.metadata == {
        "topic": "x",
        "graph_id": "agent",
        "assistant_id": str(assistant.assistant_id),
    }


def test_status_events_only_when_the_status_changes(assistant):
    thread = services.thread_create()
    first = run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    run_services.run_start(run_id=first.run_id, worker_id="w")
    types = [e.type for e in store.load(thread.thread_id)]
    # busy once, not once per run; the assistant/graph metadata is recorded once too
    assert types == ["ThreadCreated", "ThreadStatusChanged", "ThreadMetadataUpdated"]


def test_deleting_twice_is_not_found_not_a_crash():
    thread = services.thread_create()
    services.thread_delete(thread_id=thread.thread_id)
    with pytest.raises((NotFound, IllegalTransition)):
        services.thread_delete(thread_id=thread.thread_id)
