"""The thread aggregate and the thread-status rule, with no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from duragraph_site.errors import IllegalTransition, InvalidInput
from events.testing import play
from threads import domain
from threads.domain import ThreadStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def step(state, new_events, at=T0):
    return play(domain.apply, state, new_events, at=at)


def new_thread(**overrides) -> domain.ThreadState:
    fields = {"thread_id": uuid.uuid4(), "metadata": {"owner": "ada"}}
    fields.update(overrides)
    return step(None, domain.create(**fields))


def test_create_starts_idle_with_its_metadata():
    thread = new_thread(ttl={"strategy": "delete", "ttl": 5})
    assert (thread.status, thread.metadata, thread.values, thread.version) == (
        ThreadStatus.IDLE,
        {"owner": "ada"},
        None,
        1,
    )
    assert thread.ttl == {"strategy": "delete", "ttl": 5}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metadata": "nope"}, "metadata must be a JSON object"),
        ({"metadata": {"s": {1, 2}}}, "metadata.s holds a set"),
        ({"values": {"x": object()}}, "values.x holds a object"),
        ({"ttl": {"ttl": float("inf")}}, "ttl.ttl is not a finite number"),
    ],
)
def test_create_rejects_non_json(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        new_thread(**overrides)


def test_metadata_updates_merge():
    thread = new_thread()
    updated = step(
        thread,
        domain.update_metadata(thread, metadata={"topic": "cats"}),
        at=T0 + timedelta(seconds=1),
    )
    assert updated.metadata == {"owner": "ada", "topic": "cats"}
    assert updated.updated_at == T0 + timedelta(seconds=1)
    assert updated.state_updated_at == T0


def test_status_change_records_error_and_interrupts_and_skips_no_ops():
    thread = new_thread()
    assert domain.change_status(thread, status=ThreadStatus.IDLE) == []
    busy = step(thread, domain.change_status(thread, status=ThreadStatus.BUSY, run_id=uuid.uuid4()))
    failed = step(
        busy,
        domain.change_status(busy, status=ThreadStatus.ERROR, error={"error": "E", "message": "m"}),
    )
    assert (failed.status, failed.error) == (ThreadStatus.ERROR, {"error": "E", "message": "m"})
    parked = step(
        failed, domain.change_status(failed, status=ThreadStatus.INTERRUPTED, interrupts={"t": [1]})
    )
    assert (parked.status, parked.error, parked.interrupts) == (
        ThreadStatus.INTERRUPTED,
        None,
        {"t": [1]},
    )


def test_values_update_moves_state_updated_at():
    thread = new_thread()
    later = T0 + timedelta(minutes=1)
    updated = step(thread, domain.update_values(thread, values={"messages": ["hi"]}), at=later)
    assert (updated.values, updated.state_updated_at) == ({"messages": ["hi"]}, later)


@pytest.mark.parametrize(
    ("active", "last", "cancelled", "expected"),
    [
        (True, "success", False, ThreadStatus.BUSY),
        (True, None, False, ThreadStatus.BUSY),
        (False, None, False, ThreadStatus.IDLE),
        (False, "success", False, ThreadStatus.IDLE),
        (False, "interrupted", False, ThreadStatus.INTERRUPTED),
        (False, "interrupted", True, ThreadStatus.IDLE),
        (False, "error", False, ThreadStatus.ERROR),
        (False, "timeout", False, ThreadStatus.ERROR),
    ],
)
def test_status_after_runs(active, last, cancelled, expected):
    assert (
        domain.status_after_runs(
            has_active_run=active, last_run_status=last, last_run_cancelled=cancelled
        )
        is expected
    )


def test_a_deleted_thread_refuses_every_command():
    thread = new_thread()
    gone = step(thread, domain.delete(thread))
    assert gone.deleted
    for command in (
        lambda: domain.update_metadata(gone, metadata={}),
        lambda: domain.change_status(gone, status=ThreadStatus.BUSY),
        lambda: domain.update_values(gone, values={}),
        lambda: domain.delete(gone),
    ):
        with pytest.raises(IllegalTransition):
            command()


def test_created_twice_is_illegal_unless_deleted_between():
    thread = new_thread()
    again = domain.create(thread_id=thread.thread_id, metadata={})
    with pytest.raises(IllegalTransition):
        step(thread, again)
    gone = step(thread, domain.delete(thread))
    reborn = step(gone, again)
    assert (reborn.deleted, reborn.metadata, reborn.version) == (False, {}, 3)


def test_ttl_can_be_set_and_cleared():
    thread = new_thread()
    with_ttl = step(thread, domain.set_ttl(thread, ttl={"strategy": "delete", "ttl": 30}))
    assert with_ttl.ttl == {"strategy": "delete", "ttl": 30}
    assert step(with_ttl, domain.set_ttl(with_ttl, ttl=None)).ttl is None


def test_every_event_class_of_the_module_can_be_decoded():
    """EVENT_TYPES is how replay turns stored payloads back into events: it must know them all."""
    from events.domain import DomainEvent

    declared = {
        value.type_name
        for value in vars(domain).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and value is not DomainEvent
    }
    assert declared and all(name in domain.EVENT_TYPES for name in declared)
