"""Every service writes events + read models + outbox atomically.

A failure injected right after an event insert (or after a read-model write) must leave no
trace at all: every table is compared, row by row, before and after.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assistants import services as assistant_services
from assistants.domain import system_assistant_id
from assistants.models import Assistant, AssistantVersion
from events import projections, store
from events.models import Event, Outbox
from runs import services as run_services
from runs.models import Run
from threads import services as thread_services
from threads.models import Checkpoint, Thread
from workers import protocol, remote

pytestmark = pytest.mark.django_db


class Injected(Exception):
    pass


def snapshot() -> dict[str, list[dict]]:
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Event, Outbox, Assistant, AssistantVersion, Thread, Run)
    }


@pytest.fixture
def world():
    """A thread and assistant, and runs in each interesting state (each on its own thread)."""
    assistant = assistant_services.assistant_create(graph_id="agent")

    def new_run(start=False, end=None):
        thread = thread_services.thread_create()
        run = run_services.run_create(
            thread_id=thread.thread_id, assistant_id=assistant.assistant_id
        )
        if start or end:
            run_services.run_start(run_id=run.run_id, worker_id="w", lease_seconds=1)
        if end == "fail":
            run_services.run_fail(run_id=run.run_id, lease_epoch=1, error="E", message="m")
        if end == "complete":
            run_services.run_complete(run_id=run.run_id, lease_epoch=1)
        return run

    return {
        "assistant": assistant,
        "thread": thread_services.thread_create(metadata={"a": 1}),
        "pending": new_run(),
        "running": new_run(start=True),
        "failed": new_run(end="fail"),
        "done": new_run(end="complete"),
    }


SERVICES = {
    "assistant_create": lambda w: assistant_services.assistant_create(graph_id="agent"),
    "assistant_update": lambda w: assistant_services.assistant_update(
        assistant_id=w["assistant"].assistant_id, name="x"
    ),
    "assistant_set_latest": lambda w: assistant_services.assistant_set_latest(
        assistant_id=w["assistant"].assistant_id, version=1
    ),
    "assistant_delete": lambda w: assistant_services.assistant_delete(
        assistant_id=w["assistant"].assistant_id
    ),
    "thread_create": lambda w: thread_services.thread_create(metadata={"b": 2}),
    "thread_update": lambda w: thread_services.thread_update(
        thread_id=w["thread"].thread_id, metadata={"b": 2}
    ),
    "thread_delete": lambda w: thread_services.thread_delete(thread_id=w["running"].thread_id),
    "thread_copy": lambda w: thread_services.thread_copy(thread_id=w["thread"].thread_id),
    "run_create": lambda w: run_services.run_create(
        thread_id=w["thread"].thread_id, assistant_id=w["assistant"].assistant_id
    ),
    "run_create_interrupting": lambda w: run_services.run_create(
        thread_id=w["running"].thread_id,
        assistant_id=w["assistant"].assistant_id,
        multitask_strategy="rollback",
    ),
    "run_start": lambda w: run_services.run_start(run_id=w["pending"].run_id, worker_id="w2"),
    "run_renew_lease": lambda w: run_services.run_renew_lease(
        run_id=w["running"].run_id, lease_epoch=1
    ),
    "run_complete": lambda w: run_services.run_complete(
        run_id=w["running"].run_id, lease_epoch=1, output={"v": 1}
    ),
    "run_fail": lambda w: run_services.run_fail(
        run_id=w["running"].run_id, lease_epoch=1, error="E", message="m"
    ),
    "run_time_out": lambda w: run_services.run_time_out(
        run_id=w["running"].run_id, lease_epoch=None, message="m"
    ),
    "run_interrupt": lambda w: run_services.run_interrupt(
        run_id=w["running"].run_id, lease_epoch=1, interrupts={"t": []}
    ),
    "run_cancel": lambda w: run_services.run_cancel(run_id=w["running"].run_id),
    "run_requeue": lambda w: run_services.run_requeue(run_id=w["failed"].run_id),
    "run_delete": lambda w: run_services.run_delete(run_id=w["done"].run_id),
    "runs_reap_expired_leases": lambda w: run_services.runs_reap_expired_leases(
        now=timezone.now() + timedelta(seconds=10)
    ),
}


def fail_between_append_and_read_model(monkeypatch):
    """The event and outbox rows are inserted, then the service dies before its read model write."""
    real_append = store.append

    def append_then_fail(*args, **kwargs):
        real_append(*args, **kwargs)
        raise Injected("after the event insert")

    monkeypatch.setattr(store, "append", append_then_fail)


def fail_after_first_read_model_write(monkeypatch):
    """One aggregate is fully written (events, outbox, read model), then the service dies."""
    real_record = projections.record

    def record_then_fail(*args, **kwargs):
        real_record(*args, **kwargs)
        raise Injected("after the first read-model write")

    monkeypatch.setattr(projections, "record", record_then_fail)


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize(
    "inject", [fail_between_append_and_read_model, fail_after_first_read_model_write]
)
def test_a_failure_mid_service_leaves_no_trace(world, monkeypatch, service, inject):
    before = snapshot()
    inject(monkeypatch)
    with pytest.raises(Injected):
        SERVICES[service](world)
    assert snapshot() == before


# -- a remote worker's event: several writes, one transaction --------------------------------
def remote_snapshot() -> dict[str, list[dict]]:
    return {**snapshot(), "Checkpoint": list(Checkpoint.objects.order_by("pk").values())}


#: The runs services a worker event's progress is recorded through (workers.remote).
PROGRESS_WRITES = (
    "run_save_checkpoint",
    "run_record_output",
    "run_complete",
    "run_fail",
    "run_interrupt",
)


def fail_at_the_second_write(monkeypatch):
    """The first write commits to its savepoint; the second writes too, then the request dies."""
    calls = []
    for name in PROGRESS_WRITES:
        real = getattr(run_services, name)

        def write_then_maybe_fail(*args, _real=real, _name=name, **kwargs):
            _real(*args, **kwargs)
            calls.append(_name)
            if len(calls) == 2:
                raise Injected(f"after {calls}")

        monkeypatch.setattr(run_services, name, write_then_maybe_fail)
    return calls


@pytest.fixture
def remote_run():
    """A run of a remote graph, leased to worker ``w1``, one node done."""
    remote.worker_register_remote(
        worker_id="w1",
        name="w1",
        graph_ids=["hello_world"],
        max_concurrent_runs=1,
        graph_definitions=[protocol.GraphDefinition("hello_world", [{"id": "greet"}], [], "greet")],
    )
    thread = thread_services.thread_create()
    run = run_services.run_create(
        thread_id=thread.thread_id,
        assistant_id=system_assistant_id("hello_world"),
        kwargs={"input": {"name": "Django"}},
    )
    [task] = remote.worker_poll(worker_id="w1")
    assert task["run_id"] == str(run.run_id)
    for event_type, data in [
        ("run_started", {}),
        ("node_started", {"node_id": "greet"}),
        ("node_completed", {"node_id": "greet", "output": {"greeting": "Hello"}}),
    ]:
        remote.worker_report_event(
            worker_id="w1", run_id=run.run_id, event_type=event_type, data=data
        )
    return run


@pytest.mark.parametrize(
    ("event_type", "data", "writes"),
    [
        (
            "node_completed",
            {"node_id": "farewell", "output": {"farewell": "bye"}},
            ["run_save_checkpoint", "run_record_output"],
        ),
        (
            "run_completed",
            {"output": {"name": "Django", "greeting": "Hello", "extra": 1}},
            ["run_save_checkpoint", "run_complete"],
        ),
    ],
)
def test_a_worker_event_s_writes_commit_together_or_not_at_all(
    remote_run, monkeypatch, event_type, data, writes
):
    before = remote_snapshot()
    calls = fail_at_the_second_write(monkeypatch)
    with pytest.raises(Injected):
        remote.worker_report_event(
            worker_id="w1", run_id=remote_run.run_id, event_type=event_type, data=data
        )
    assert calls == writes  # both writes were made before the failure...
    assert remote_snapshot() == before  # ...and neither is left: events, outbox, checkpoint, run

    monkeypatch.undo()  # the worker reports again: this time it all lands, once
    remote.worker_report_event(
        worker_id="w1", run_id=remote_run.run_id, event_type=event_type, data=data
    )
    after = remote_snapshot()
    assert len(after["Checkpoint"]) == len(before["Checkpoint"]) + 1
    assert len(after["Event"]) > len(before["Event"])
