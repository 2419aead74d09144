"""DAG jobs' pure rules: the scheduler's decisions (needs, ``if``, skip cascades, cancelled
runs), job attempts (claim, fencing, retries with backoff, lease expiry and timeouts), a run's
end, and definitions' versions. No database."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from events.domain import Recorded
from workflows import conditions, domain
from workflows.domain import JobStatus

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RUN_ID = uuid.UUID("01a24e8a-ad60-76dc-8b8e-b992866ed467")

W, Q, R, OK, FAIL, SKIP, CANCEL = (
    JobStatus.WAITING,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.SUCCESS,
    JobStatus.FAILURE,
    JobStatus.SKIPPED,
    JobStatus.CANCELLED,
)


def dag(*jobs: tuple[str, list[str]] | tuple[str, list[str], str]):
    return [
        (job[0], job[1], conditions.parse(job[2] if len(job) > 2 else "success()")) for job in jobs
    ]


def actions(decisions) -> list[tuple[str, str]]:
    return [(d.job_id, d.action) for d in decisions]


# -- the scheduler -----------------------------------------------------------------------------
def test_roots_are_enqueued_and_waiting_jobs_wait_for_every_need():
    jobs = dag(("a", []), ("b", []), ("c", ["a", "b"]))
    assert actions(domain.decide(jobs, {"a": W, "b": W, "c": W}, cancelled=False)) == [
        ("a", "enqueue"),
        ("b", "enqueue"),
    ]
    assert domain.decide(jobs, {"a": OK, "b": R, "c": W}, cancelled=False) == []
    assert actions(domain.decide(jobs, {"a": OK, "b": OK, "c": W}, cancelled=False)) == [
        ("c", "enqueue")
    ]


def test_a_failure_skips_everything_downstream_transitively_in_one_pass():
    jobs = dag(("a", []), ("b", ["a"]), ("c", ["b"]), ("d", ["a"]), ("e", []))
    decisions = domain.decide(jobs, {"a": FAIL, "b": W, "c": W, "d": W, "e": R}, cancelled=False)
    assert actions(decisions) == [("b", "skip"), ("c", "skip"), ("d", "skip")]
    assert decisions[0].reason == "needs not met: a"


def test_if_conditions_run_jobs_after_failures_and_cancellation():
    jobs = dag(
        ("a", []),
        ("cleanup", ["a"], "always()"),
        ("report", ["a"], "failure()"),
        ("deploy", ["a"], "success()"),
        ("notify", ["deploy"], "cancelled()"),
    )
    failed = {"a": FAIL, "cleanup": W, "report": W, "deploy": W, "notify": W}
    assert actions(domain.decide(jobs, failed, cancelled=False)) == [
        ("cleanup", "enqueue"),
        ("report", "enqueue"),
        ("deploy", "skip"),
        ("notify", "skip"),
    ]
    cancelled = {"a": CANCEL, "cleanup": W, "report": W, "deploy": W, "notify": W}
    assert actions(domain.decide(jobs, cancelled, cancelled=True)) == [
        ("cleanup", "enqueue"),
        ("report", "cancel"),
        ("deploy", "cancel"),
        ("notify", "enqueue"),
    ]


def test_a_job_is_decided_once():
    jobs = dag(("a", []), ("b", ["a"]))
    assert domain.decide(jobs, {"a": OK, "b": Q}, cancelled=False) == []


# -- job attempts ------------------------------------------------------------------------------
def fold(state, events, at=NOW):
    for event in events:
        state = domain.apply_job(
            state, Recorded(event=event, version=(state.version if state else 0) + 1, at=at)
        )
    return state


def job(*, retries=0, backoff=None, timeout=None, labels=("linux",)):
    events = domain.create_job(
        run_id=RUN_ID,
        workflow_id="ci",
        job_id="build",
        name="Build",
        needs=[],
        labels=list(labels),
        retries=retries,
        backoff=backoff or domain.Backoff(),
        timeout_seconds=timeout,
        condition="success()",
        command="make",
        agent=None,
        env={},
        tenant="default",
    )
    state = fold(None, events)
    return fold(state, domain.enqueue(state, upstream_outputs={"up": {"k": "v"}}, now=NOW))


def claimed(state, *, at=NOW, ttl=30.0):
    lease = uuid.uuid4()
    return fold(
        state, domain.claim(state, lease_id=lease, worker_id="w1", ttl_seconds=ttl, now=at), at
    ), lease


def test_a_claim_leases_the_job_under_a_new_epoch():
    state, lease = claimed(job())
    assert (state.status, state.lease_id, state.lease_epoch, state.attempt) == (R, lease, 1, 1)
    assert state.lease_expires_at == NOW + timedelta(seconds=30)
    assert state.upstream_outputs == {"up": {"k": "v"}}
    with pytest.raises(domain.IllegalTransition):
        domain.claim(state, lease_id=uuid.uuid4(), worker_id="w2", ttl_seconds=30, now=NOW)


@pytest.mark.parametrize("lease_state", ["another lease", "expired", "succeeded", "cancelled"])
def test_only_the_current_unexpired_lease_may_write(lease_state):
    state, lease = claimed(job())
    now = NOW + timedelta(seconds=1)
    if lease_state == "another lease":
        lease = uuid.uuid4()
    elif lease_state == "expired":
        now = NOW + timedelta(seconds=30)
    elif lease_state == "succeeded":
        state = fold(state, domain.succeed(state, lease_id=lease, outputs={}, now=now))
    else:
        state = fold(state, domain.cancel(state, reason="stop"))
    for write in (
        lambda: domain.renew(state, lease_id=lease, now=now),
        lambda: domain.succeed(state, lease_id=lease, outputs={}, now=now),
        lambda: domain.fail(
            state, lease_id=lease, error="x", retryable=True, reason="failed", now=now
        ),
        lambda: domain.log(state, lease_id=lease, chunks=[{"data": "x"}], now=now),
    ):
        with pytest.raises(domain.LeaseLost):
            write()


def test_a_heartbeat_extends_by_the_ttl_the_worker_asked_for():
    state, lease = claimed(job(), ttl=7)
    later = NOW + timedelta(seconds=5)
    state = fold(state, domain.renew(state, lease_id=lease, now=later), later)
    assert state.lease_expires_at == later + timedelta(seconds=7)


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        (domain.Backoff(), [0, 0]),
        (domain.Backoff(strategy="fixed", seconds=5), [5, 5]),
        (domain.Backoff(strategy="exponential", seconds=1, max_seconds=3), [2, 3]),
    ],
)
def test_failed_attempts_are_retried_with_backoff_then_the_job_fails(backoff, delays):
    state = job(retries=2, backoff=backoff)
    for attempt, delay in zip((2, 3), delays, strict=True):
        state, lease = claimed(state, at=state.not_before)
        state = fold(
            state,
            domain.fail(
                state, lease_id=lease, error="boom", retryable=True, reason="failed", now=NOW
            ),
        )
        assert (state.status, state.attempt, state.not_before) == (
            Q,
            attempt,
            NOW + timedelta(seconds=delay),
        )
        assert state.upstream_outputs == {"up": {"k": "v"}}, "a retry keeps its inputs"
    state, lease = claimed(state, at=state.not_before)
    events = domain.fail(
        state, lease_id=lease, error="boom", retryable=True, reason="failed", now=NOW
    )
    assert [e.type_name for e in events] == ["JobAttemptFailed", "JobFailed"]
    assert fold(state, events).status is FAIL


def test_a_non_retryable_failure_fails_at_once():
    state, lease = claimed(job(retries=5))
    events = domain.fail(
        state, lease_id=lease, error="bad", retryable=False, reason="failed", now=NOW
    )
    assert fold(state, events).status is FAIL


def test_lease_expiry_and_timeouts_are_seen_by_the_system():
    state, _ = claimed(job(retries=0, timeout=10))
    assert not domain.expired(state, now=NOW + timedelta(seconds=29))
    assert domain.expired(state, now=NOW + timedelta(seconds=30))
    assert not domain.timed_out(state, now=NOW + timedelta(seconds=9))
    assert domain.timed_out(state, now=NOW + timedelta(seconds=10))
    events = domain.fail(
        state, error="lease expired", retryable=True, reason="lease_expired", now=NOW
    )
    assert [e.type_name for e in events] == ["JobAttemptFailed", "JobFailed"], "no budget left"
    assert events[0].lease_epoch is None


def test_backoff_delays():
    exponential = domain.Backoff(strategy="exponential", seconds=2, max_seconds=30)
    assert [exponential.delay(n) for n in (2, 3, 4, 5, 6)] == [4, 8, 16, 30, 30]
    assert domain.Backoff(strategy="fixed", seconds=3).delay(9) == 3
    assert domain.Backoff().delay(4) == 0


# -- runs and definitions ----------------------------------------------------------------------
def run_state(cancelled=False):
    state = domain.apply_run(
        None,
        Recorded(
            event=domain.start_run(
                run_id=RUN_ID, workflow_id="ci", definition_version=1, jobs=["a"], tenant="t"
            )[0],
            version=1,
            at=NOW,
        ),
    )
    if cancelled:
        state = domain.apply_run(
            state, Recorded(event=domain.cancel_run(state, reason="x")[0], version=2, at=NOW)
        )
    return state


def test_a_run_ends_when_every_job_is_over():
    assert domain.finish_run(run_state(), {"a": OK, "b": R}) == []
    assert domain.finish_run(run_state(), {"a": OK, "b": SKIP})[0].status == "success"
    assert domain.finish_run(run_state(), {"a": FAIL, "b": SKIP})[0].status == "failure"
    assert (
        domain.finish_run(run_state(cancelled=True), {"a": OK, "b": CANCEL})[0].status
        == "cancelled"
    )
    assert domain.finish_run(run_state(), {"a": CANCEL, "b": SKIP})[0].status == "cancelled"
    assert domain.finish_run(run_state(), {"a": CANCEL, "b": FAIL})[0].status == "failure"


def finished_run(status="failure"):
    state = run_state()
    event = domain.WorkflowRunFinished(status=status)
    return domain.apply_run(state, Recorded(event=event, version=2, at=NOW))


def requeue_dag(**statuses):
    """a; b needs a; c needs b; e needs a (``always()``); d stands alone."""
    needs = {"a": (), "b": ("a",), "c": ("b",), "d": (), "e": ("a",)}
    base = job()
    return {
        job_id: replace(
            base,
            job_id=job_id,
            needs=needs[job_id],
            status=statuses.get(job_id, OK),
            attempt=1,
            finished_at=NOW,
        )
        for job_id in needs
    }


def test_a_requeue_queues_the_job_again_and_resets_what_ended_downstream_of_it():
    jobs = requeue_dag(a=FAIL, b=SKIP, c=SKIP, e=OK, d=OK)
    later = NOW + timedelta(minutes=5)
    decided = domain.requeue(finished_run(), jobs, "a", reason="fixed", now=later)
    assert sorted(decided.job_events) == ["a", "b", "c", "e"], "d is not downstream of a"
    queued = fold(jobs["a"], decided.job_events["a"], later)
    assert (queued.status, queued.attempt, queued.not_before, queued.finished_at) == (
        Q,
        2,
        later,
        None,
    )
    assert queued.upstream_outputs == jobs["a"].upstream_outputs
    for other in "bce":
        reset = fold(jobs[other], decided.job_events[other], later)
        assert (reset.status, reset.finished_at, reset.error) == (W, None, None)
    (reopened,) = decided.run_events
    run = domain.apply_run(finished_run(), Recorded(event=reopened, version=3, at=later))
    assert (run.status, run.finished_at) == (domain.RunStatus.RUNNING, None)
    # A run still going is not reopened; a waiting job downstream stays as it is.
    going = domain.requeue(
        run_state(), requeue_dag(a=CANCEL, b=W, c=W, e=W), "a", reason="x", now=NOW
    )
    assert going.run_events == [] and sorted(going.job_events) == ["a"]


@pytest.mark.parametrize(
    ("statuses", "cancelled", "message"),
    [
        ({"a": OK}, False, "only a failed or cancelled job"),
        ({"a": R}, False, "only a failed or cancelled job"),
        ({"a": FAIL, "e": R}, False, "e downstream of it still run"),
        ({"a": FAIL, "b": Q}, False, "b downstream of it still run"),
        ({"a": CANCEL}, True, "was cancelled: start a new run"),
    ],
)
def test_a_requeue_is_refused_where_it_cannot_apply(statuses, cancelled, message):
    with pytest.raises(domain.IllegalTransition, match=message):
        domain.requeue(
            run_state(cancelled=cancelled), requeue_dag(**statuses), "a", reason="x", now=NOW
        )


def test_a_definition_gets_a_version_only_when_it_changes():
    first = domain.define(
        None, workflow_id="ci", name="CI", document={"a": 1}, source="file", tenant="t"
    )
    state = domain.apply_definition(None, Recorded(event=first[0], version=1, at=NOW))
    assert (
        domain.define(
            state, workflow_id="ci", name="CI", document={"a": 1}, source="file", tenant="t"
        )
        == []
    )
    [second] = domain.define(
        state, workflow_id="ci", name="CI", document={"a": 2}, source="api", tenant="t"
    )
    assert second.version == 2
    with pytest.raises(domain.Conflict):
        domain.define(
            state, workflow_id="ci", name="CI", document={"a": 3}, source="api", tenant="other"
        )
