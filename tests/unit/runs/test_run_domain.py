"""The run state machine: every transition, legal and illegal, with no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from duragraph_site.errors import IllegalTransition, InvalidInput, StaleLease
from events.domain import OutOfSequence, Recorded
from events.testing import play
from runs import domain, payloads
from runs.domain import RunStatus

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = 30.0
POLICY = domain.RetryPolicy(base_seconds=1, factor=2, max_seconds=10)


def step(state, new_events, at=T0):
    return play(domain.apply, state, new_events, at=at)


def pending(**overrides) -> domain.RunState:
    fields = dict(
        run_id=uuid.uuid4(),
        thread_id=uuid.uuid4(),
        assistant_id=uuid.uuid4(),
        kwargs={"input": {"x": 1}},
        metadata={"k": "v"},
        multitask_strategy="enqueue",
        max_attempts=2,
        now=T0,
    )
    fields.update(overrides)
    return step(None, domain.create(**fields))


def running(state=None, worker="w1", at=T0) -> domain.RunState:
    state = state or pending()
    return step(state, domain.start(state, worker_id=worker, lease_seconds=LEASE, now=at), at=at)


def in_status(status: str) -> domain.RunState:
    run = running()
    epoch = run.lease_epoch
    if status == "pending":
        return pending()
    if status == "running":
        return run
    if status == "success":
        return step(run, domain.complete(run, lease_epoch=epoch, output={"done": True}))
    if status == "error":
        return step(run, domain.fail(run, lease_epoch=epoch, error="ValueError", message="boom"))
    if status == "timeout":
        return step(run, domain.time_out(run, lease_epoch=epoch, message="too slow"))
    if status == "interrupted":
        return step(
            run,
            domain.interrupt(
                run, lease_epoch=epoch, interrupts={"t1": [{"value": "ok?", "id": "i1"}]}
            ),
        )
    if status == "cancelled":
        return step(run, domain.cancel(run, action="interrupt", reason="user"))
    if status == "deleted":
        done = step(run, domain.complete(run, lease_epoch=epoch))
        return step(done, domain.delete(done))
    raise AssertionError(status)


LATER = T0 + timedelta(seconds=LEASE + 1)

COMMANDS = {
    "start": lambda s: domain.start(s, worker_id="w2", lease_seconds=LEASE, now=T0),
    "renew": lambda s: domain.renew_lease(
        s, lease_epoch=s.lease_epoch, lease_seconds=LEASE, now=T0
    ),
    "complete": lambda s: domain.complete(s, lease_epoch=s.lease_epoch),
    "fail": lambda s: domain.fail(s, lease_epoch=s.lease_epoch, error="E", message="m"),
    "time_out": lambda s: domain.time_out(s, lease_epoch=s.lease_epoch, message="m"),
    "interrupt": lambda s: domain.interrupt(s, lease_epoch=s.lease_epoch, interrupts={}),
    "cancel": lambda s: domain.cancel(s, action="interrupt", reason="r"),
    "expire_lease": lambda s: domain.expire_lease(s, now=LATER, policy=POLICY),
    "requeue": lambda s: domain.requeue(s, now=T0, reason="r"),
    "delete": lambda s: domain.delete(s),
}
#: command -> the statuses it is legal in; everything else must raise.
LEGAL = {
    "start": {"pending"},
    "renew": {"running"},
    "complete": {"running"},
    "fail": {"running"},
    "time_out": {"running"},
    "interrupt": {"running"},
    "cancel": {"pending", "running"},
    "expire_lease": {"running"},
    "requeue": {"error", "timeout"},
    "delete": {"success", "error", "timeout", "interrupted", "cancelled"},
}
STATUSES = [
    "pending",
    "running",
    "success",
    "error",
    "timeout",
    "interrupted",
    "cancelled",
    "deleted",
]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_transition_matrix(command, status):
    state = in_status(status)
    if status in LEGAL[command]:
        new_state = step(state, COMMANDS[command](state), at=LATER)
        assert new_state.version > state.version
    else:
        with pytest.raises((IllegalTransition, StaleLease)):
            COMMANDS[command](state)


def test_create_makes_a_pending_run_with_its_fields():
    run = pending(after_seconds=5)
    assert run.status is RunStatus.PENDING
    assert run.version == 1
    assert run.kwargs == {"input": {"x": 1}}
    assert run.metadata == {"k": "v"}
    assert run.available_at == T0 + timedelta(seconds=5)
    assert (run.attempt, run.lease_epoch, run.worker_id) == (0, 0, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metadata": {"when": datetime(2026, 1, 1)}}, "metadata.when holds a datetime"),
        ({"metadata": ["not", "an", "object"]}, "metadata must be a JSON object"),
        ({"kwargs": {"input": {1: "int key"}}}, "non-string key"),
        ({"kwargs": {"input": float("nan")}}, "not a finite number"),
        ({"multitask_strategy": "sometimes"}, "multitask_strategy must be one of"),
        ({"after_seconds": -1}, "after_seconds"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_create_rejects_bad_input(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        pending(**overrides)


def test_start_leases_under_a_new_epoch_and_counts_the_attempt():
    run = running(at=T0)
    assert run.status is RunStatus.RUNNING
    assert (run.worker_id, run.lease_epoch, run.attempt) == ("w1", 1, 1)
    assert run.lease_expires_at == T0 + timedelta(seconds=LEASE)


def test_start_waits_for_available_at():
    run = pending(after_seconds=60)
    with pytest.raises(IllegalTransition, match="not available before"):
        domain.start(run, worker_id="w", lease_seconds=LEASE, now=T0)
    started = step(
        run, domain.start(run, worker_id="w", lease_seconds=LEASE, now=T0 + timedelta(seconds=60))
    )
    assert started.status is RunStatus.RUNNING


def test_a_stale_epoch_is_refused_for_every_worker_write():
    run = running()
    stale = run.lease_epoch - 1
    for write in (
        lambda: domain.complete(run, lease_epoch=stale),
        lambda: domain.fail(run, lease_epoch=stale, error="E", message="m"),
        lambda: domain.interrupt(run, lease_epoch=stale, interrupts={}),
        lambda: domain.renew_lease(run, lease_epoch=stale, lease_seconds=1, now=T0),
        lambda: domain.time_out(run, lease_epoch=stale, message="m"),
    ):
        with pytest.raises(StaleLease):
            write()


def test_renew_moves_the_deadline_only():
    run = running()
    renewed = step(
        run,
        domain.renew_lease(run, lease_epoch=1, lease_seconds=LEASE, now=T0 + timedelta(seconds=20)),
    )
    assert renewed.lease_expires_at == T0 + timedelta(seconds=20 + LEASE)
    assert (renewed.status, renewed.lease_epoch, renewed.worker_id) == (RunStatus.RUNNING, 1, "w1")


def test_ending_clears_the_lease_and_records_the_outcome():
    run = running()
    done = step(run, domain.complete(run, lease_epoch=1, output={"answer": 42}))
    assert (done.status, done.output, done.worker_id, done.lease_expires_at) == (
        RunStatus.SUCCESS,
        {"answer": 42},
        None,
        None,
    )
    failed = step(run, domain.fail(run, lease_epoch=1, error="ValueError", message="boom"))
    assert failed.error == {"error": "ValueError", "message": "boom"}
    parked = step(
        run, domain.interrupt(run, lease_epoch=1, interrupts={"t": [{"value": 1}]}, output={"v": 1})
    )
    assert (parked.status, parked.interrupts, parked.output) == (
        RunStatus.INTERRUPTED,
        {"t": [{"value": 1}]},
        {"v": 1},
    )


def test_system_time_out_needs_no_epoch_but_a_running_run():
    run = running()
    assert (
        step(run, domain.time_out(run, lease_epoch=None, message="limit")).status
        is RunStatus.TIMEOUT
    )
    with pytest.raises(IllegalTransition):
        domain.time_out(pending(), lease_epoch=None, message="limit")


def test_cancel_interrupt_keeps_the_run_and_rollback_deletes_it():
    run = running()
    kept = step(run, domain.cancel(run, action="interrupt", reason="user asked"))
    assert (kept.status, kept.cancel_reason, kept.deleted) == (
        RunStatus.INTERRUPTED,
        "user asked",
        False,
    )
    gone = step(run, domain.cancel(run, action="rollback", reason="user asked"))
    assert gone.deleted is True
    with pytest.raises(InvalidInput, match="action must be one of"):
        domain.cancel(run, action="explode", reason="x")


def test_a_cancelled_worker_can_no_longer_write():
    run = running()
    cancelled = step(run, domain.cancel(run, action="interrupt", reason="user"))
    with pytest.raises(StaleLease):
        domain.complete(cancelled, lease_epoch=run.lease_epoch)


def test_decide_retry_is_none_while_the_lease_holds():
    run = running()
    assert domain.decide_retry(run, now=T0 + timedelta(seconds=LEASE - 1), policy=POLICY) is None
    assert domain.decide_retry(pending(), now=LATER, policy=POLICY) is None


def test_expired_lease_retries_with_backoff_then_fails_when_attempts_run_out():
    run = running()  # attempt 1 of 2
    first = domain.decide_retry(run, now=LATER, policy=POLICY)
    assert first.retry and first.available_at == LATER + timedelta(seconds=1)
    retried = step(run, domain.expire_lease(run, now=LATER, policy=POLICY), at=LATER)
    assert (retried.status, retried.worker_id, retried.attempt) == (RunStatus.PENDING, None, 1)
    assert retried.available_at == LATER + timedelta(seconds=1)

    again = running(retried, worker="w2", at=retried.available_at)  # attempt 2 of 2, epoch 2
    assert (again.attempt, again.lease_epoch) == (2, 2)
    dead_at = retried.available_at + timedelta(seconds=LEASE + 1)
    final = domain.decide_retry(again, now=dead_at, policy=POLICY)
    assert not final.retry and "no attempts left" in final.reason
    failed = step(again, domain.expire_lease(again, now=dead_at, policy=POLICY), at=dead_at)
    assert failed.status is RunStatus.ERROR
    assert failed.error["error"] == "LeaseExpired"
    assert "'w2'" in failed.error["message"]


def test_backoff_grows_exponentially_up_to_the_cap():
    assert [POLICY.delay(n).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_requeue_grants_a_fresh_budget():
    failed = in_status("error")
    requeued = step(failed, domain.requeue(failed, now=T0, reason="operator"))
    assert (requeued.status, requeued.attempt) == (RunStatus.PENDING, 0)
    restarted = running(requeued)
    assert (restarted.attempt, restarted.lease_epoch, restarted.error) == (1, 2, None)


def test_apply_refuses_events_out_of_sequence():
    run = pending()
    started = domain.start(run, worker_id="w", lease_seconds=LEASE, now=T0)[0]
    with pytest.raises(OutOfSequence):
        domain.apply(run, Recorded(event=started, version=run.version + 2, at=T0))
    with pytest.raises(IllegalTransition):
        domain.apply(None, Recorded(event=started, version=1, at=T0))


def test_replay_is_deterministic():
    """The same events folded twice give equal states."""
    run = pending()
    history = [
        *domain.start(run, worker_id="w", lease_seconds=LEASE, now=T0),
    ]
    once = step(run, history)
    twice = step(
        pending(run_id=run.run_id, thread_id=run.thread_id, assistant_id=run.assistant_id), history
    )
    assert once == twice


def test_a_deleted_run_id_can_be_created_again():
    gone = in_status("deleted")
    reborn = step(
        gone,
        domain.create(
            run_id=gone.run_id,
            thread_id=gone.thread_id,
            assistant_id=gone.assistant_id,
            kwargs={},
            metadata={},
            multitask_strategy="reject",
            max_attempts=1,
            now=T0,
        ),
    )
    assert (reborn.status, reborn.deleted, reborn.version) == (
        RunStatus.PENDING,
        False,
        gone.version + 1,
    )


def test_every_event_class_of_the_module_can_be_decoded():
    """EVENT_TYPES is how replay turns stored payloads back into events: it must know them all."""
    from events.domain import DomainEvent

    declared = {
        value.type_name
        for value in vars(domain).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and value is not DomainEvent
    }
    assert declared and all(name in domain.EVENT_TYPES for name in declared)


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({"input": {"a": 1}}, []),
        ({"interrupt_before": ["draft"]}, ["interrupt_before"]),
        ({"interrupt_after": "*"}, ["interrupt_after"]),
        ({"interrupt_before": [], "interrupt_after": None}, []),
        ({"checkpoint_id": "1ef"}, ["checkpoint_id"]),
        ({"checkpoint": {"checkpoint_id": "1ef", "checkpoint_ns": ""}}, ["checkpoint_id"]),
        ({"checkpoint": {"checkpoint_ns": ""}}, []),
        ({"command": {"goto": "draft"}}, ["command.goto"]),
        ({"command": {"resume": "yes", "update": {"a": 1}}}, []),
        ({"context": {"model": "m"}, "config": {"tags": ["t"]}}, []),
        (
            {"interrupt_after": ["x"], "command": {"goto": ["y"]}, "interrupt_before": ["z"]},
            ["interrupt_before", "interrupt_after", "command.goto"],
        ),
    ],
)
def test_what_a_remote_worker_could_not_honour_is_named(payload, fields):
    kwargs = payloads.build(payload, stateless=False).kwargs
    assert domain.remote_unsupported(kwargs) == fields
