"""Run services on real PostgreSQL: events, read models, thread status and outbox move together."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from duragraph_site.errors import Conflict, IllegalTransition, InvalidInput, NotFound, StaleLease
from events import store
from events.testing import capture_outbox
from runs import services
from runs.models import Run
from threads.models import Thread

pytestmark = pytest.mark.django_db


def event_types(stream_id):
    return [e.type for e in store.load(stream_id)]


def create(thread, assistant, **kwargs):
    return services.run_create(
        thread_id=thread.thread_id, assistant_id=assistant.assistant_id, **kwargs
    )


def thread_status(thread) -> str:
    return Thread.objects.get(pk=thread.pk).status


class TestCreate:
    def test_creates_a_pending_run_and_makes_the_thread_busy_in_one_go(self, thread, assistant):
        with capture_outbox(expected=3) as outbox:
            run = create(thread, assistant, kwargs={"input": {"q": "hi"}}, metadata={"m": 1})
        assert (run.status, run.version, run.lease_epoch, run.attempt) == ("pending", 1, 0, 0)
        assert run.kwargs == {"input": {"q": "hi"}} and run.metadata == {"m": 1}
        refreshed = Thread.objects.get(pk=thread.pk)
        assert refreshed.status == "busy"
        # LangGraph: a thread's metadata records the assistant and graph that ran on it.
        assert refreshed.metadata == {
            "owner": "ada",
            "graph_id": "agent",
            "assistant_id": str(assistant.assistant_id),
        }
        assert [(row.event.type, row.subject) for row in outbox.rows] == [
            ("RunCreated", f"duragraph.threads.{thread.thread_id}.runs.{run.run_id}"),
            ("ThreadStatusChanged", f"duragraph.threads.{thread.thread_id}"),
            ("ThreadMetadataUpdated", f"duragraph.threads.{thread.thread_id}"),
        ]

    def test_stateless_runs_get_a_thread_of_their_own(self, assistant):
        run = services.run_create(
            thread_id=None, assistant_id=assistant.assistant_id, kwargs={"temporary": True}
        )
        thread = Thread.objects.get(thread_id=run.thread_id)
        assert (thread.status, thread.metadata["graph_id"]) == ("busy", "agent")

    def test_if_not_exists_create_makes_the_thread(self, assistant, log_counter):
        thread_id = uuid.uuid4()
        before = log_counter.snapshot()
        with pytest.raises(NotFound):
            services.run_create(thread_id=thread_id, assistant_id=assistant.assistant_id)
        assert log_counter.snapshot() == before
        run = services.run_create(
            thread_id=thread_id, assistant_id=assistant.assistant_id, if_not_exists="create"
        )
        assert run.thread_id == thread_id and Thread.objects.filter(thread_id=thread_id).exists()

    @pytest.mark.parametrize(
        ("change", "error"),
        [
            ({"thread_id": uuid.uuid4()}, NotFound),
            ({"assistant_id": uuid.uuid4()}, NotFound),
            ({"metadata": {"when": timezone.now()}}, InvalidInput),
            ({"kwargs": {"input": {1, 2}}}, InvalidInput),
            ({"multitask_strategy": "whenever"}, InvalidInput),
            ({"after_seconds": -5}, InvalidInput),
        ],
    )
    def test_bad_input_raises_a_typed_error_and_writes_nothing(
        self, thread, assistant, log_counter, change, error
    ):
        arguments = {
            "thread_id": thread.thread_id,
            "assistant_id": assistant.assistant_id,
            **change,
        }
        before = log_counter.snapshot()
        with pytest.raises(error):
            services.run_create(**arguments)
        assert log_counter.snapshot() == before
        assert Run.objects.count() == 0
        assert thread_status(thread) == "idle"


class TestMultitaskStrategies:
    def test_reject_refuses_a_second_run_with_409_and_writes_nothing(
        self, thread, assistant, log_counter
    ):
        first = create(thread, assistant)
        before = log_counter.snapshot()
        with pytest.raises(Conflict, match="already running") as caught:
            create(thread, assistant, multitask_strategy="reject")
        assert caught.value.status_code == 409
        assert log_counter.snapshot() == before
        assert list(Run.objects.values_list("run_id", flat=True)) == [first.run_id]

    def test_enqueue_keeps_both_pending(self, thread, assistant):
        first = create(thread, assistant)
        second = create(thread, assistant, multitask_strategy="enqueue")
        assert {r.run_id: r.status for r in Run.objects.all()} == {
            first.run_id: "pending",
            second.run_id: "pending",
        }

    def test_interrupt_cancels_the_active_run_and_keeps_it(self, thread, assistant):
        first = create(thread, assistant)
        claim = services.run_start(run_id=first.run_id, worker_id="w1")
        second = create(thread, assistant, multitask_strategy="interrupt")
        first = Run.objects.get(pk=first.pk)
        assert first.status == "interrupted"
        assert (
            first.cancel_reason
            == f"superseded by run {second.run_id} (multitask_strategy=interrupt)"
        )
        assert second.status == "pending" and thread_status(thread) == "busy"
        with pytest.raises(StaleLease):  # the old worker's next write is refused
            services.run_complete(run_id=first.run_id, lease_epoch=claim.lease_epoch)

    def test_rollback_deletes_the_active_run(self, thread, assistant):
        first = create(thread, assistant)
        create(thread, assistant, multitask_strategy="rollback")
        assert not Run.objects.filter(pk=first.pk).exists()
        assert event_types(first.run_id) == ["RunCreated", "RunCancelled", "RunDeleted"]


class TestLifecycle:
    def test_start_complete_and_the_thread_follows(self, thread, assistant):
        run = create(thread, assistant)
        claim = services.run_start(run_id=run.run_id, worker_id="w1")
        assert (claim.lease_epoch, claim.run.status, claim.run.worker_id, claim.run.attempt) == (
            1,
            "running",
            "w1",
            1,
        )
        assert thread_status(thread) == "busy"
        done = services.run_complete(run_id=run.run_id, lease_epoch=1, output={"answer": 42})
        assert (done.status, done.output, done.worker_id) == ("success", {"answer": 42}, None)
        refreshed = Thread.objects.get(pk=thread.pk)
        assert (refreshed.status, refreshed.values) == ("idle", {"answer": 42})
        assert event_types(run.run_id) == ["RunCreated", "RunStarted", "RunCompleted"]
        assert store.load(run.run_id)[1].metadata["worker_id"] == "w1"

    def test_failure_puts_the_thread_in_error_until_the_next_run_succeeds(self, thread, assistant):
        run = create(thread, assistant)
        services.run_start(run_id=run.run_id, worker_id="w1")
        services.run_fail(run_id=run.run_id, lease_epoch=1, error="ValueError", message="boom")
        refreshed = Thread.objects.get(pk=thread.pk)
        assert (refreshed.status, refreshed.error) == (
            "error",
            {"error": "ValueError", "message": "boom"},
        )
        again = create(thread, assistant)
        services.run_start(run_id=again.run_id, worker_id="w1")
        services.run_complete(run_id=again.run_id, lease_epoch=1)
        refreshed = Thread.objects.get(pk=thread.pk)
        assert (refreshed.status, refreshed.error) == ("idle", None)

    def test_interrupt_parks_run_and_thread(self, thread, assistant):
        run = create(thread, assistant)
        services.run_start(run_id=run.run_id, worker_id="w1")
        interrupts = {"task-1": [{"value": "approve?", "id": "abc"}]}
        parked = services.run_interrupt(
            run_id=run.run_id, lease_epoch=1, interrupts=interrupts, output={"draft": "x"}
        )
        assert parked.status == "interrupted"
        refreshed = Thread.objects.get(pk=thread.pk)
        assert (refreshed.status, refreshed.interrupts, refreshed.values) == (
            "interrupted",
            interrupts,
            {"draft": "x"},
        )

    def test_a_second_pending_run_keeps_the_thread_busy_after_the_first_ends(
        self, thread, assistant
    ):
        first = create(thread, assistant)
        create(thread, assistant)
        services.run_start(run_id=first.run_id, worker_id="w1")
        services.run_complete(run_id=first.run_id, lease_epoch=1)
        assert thread_status(thread) == "busy"

    def test_cancel_then_delete(self, thread, assistant):
        run = create(thread, assistant)
        cancelled = services.run_cancel(run_id=run.run_id, thread_id=thread.thread_id)
        assert (cancelled.status, cancelled.cancel_reason) == ("interrupted", "cancelled by user")
        assert thread_status(thread) == "idle"
        services.run_delete(run_id=run.run_id, thread_id=thread.thread_id)
        assert not Run.objects.filter(pk=run.pk).exists()
        with pytest.raises(NotFound):
            services.run_delete(run_id=run.run_id)

    def test_cancel_rollback_returns_none_and_removes_the_run(self, thread, assistant):
        run = create(thread, assistant)
        assert services.run_cancel(run_id=run.run_id, action="rollback") is None
        assert not Run.objects.filter(pk=run.pk).exists()
        assert thread_status(thread) == "idle"

    def test_deleting_an_active_run_is_a_conflict(self, thread, assistant, log_counter):
        run = create(thread, assistant)
        before = log_counter.snapshot()
        with pytest.raises(IllegalTransition) as caught:
            services.run_delete(run_id=run.run_id)
        assert caught.value.status_code == 409
        assert log_counter.snapshot() == before

    def test_a_run_is_not_found_under_another_thread(self, thread, assistant):
        from threads import services as thread_services

        other = thread_services.thread_create()
        run = create(thread, assistant)
        with pytest.raises(NotFound):
            services.run_cancel(run_id=run.run_id, thread_id=other.thread_id)


class TestFencing:
    def test_stale_epoch_writes_are_refused_and_change_nothing(
        self, thread, assistant, log_counter
    ):
        run = create(thread, assistant)
        services.run_start(run_id=run.run_id, worker_id="w1")
        before = log_counter.snapshot()
        for write in (
            lambda: services.run_complete(run_id=run.run_id, lease_epoch=7),
            lambda: services.run_fail(run_id=run.run_id, lease_epoch=0, error="E", message="m"),
            lambda: services.run_renew_lease(run_id=run.run_id, lease_epoch=2),
            lambda: services.run_interrupt(run_id=run.run_id, lease_epoch=2, interrupts={}),
        ):
            with pytest.raises(StaleLease):
                write()
        assert log_counter.snapshot() == before
        assert Run.objects.get(pk=run.pk).status == "running"

    def test_renewal_extends_the_lease(self, thread, assistant):
        run = create(thread, assistant)
        claim = services.run_start(run_id=run.run_id, worker_id="w1", lease_seconds=5)
        renewed = services.run_renew_lease(run_id=run.run_id, lease_epoch=1, lease_seconds=60)
        assert renewed.lease_expires_at > claim.run.lease_expires_at + timedelta(seconds=50)


class TestQueue:
    def test_a_retried_run_keeps_its_place_in_line(self, thread, assistant):
        """Claims go by creation: a run handed back after its worker vanished is claimed before
        runs created after it as soon as its backoff is over, not after the whole queue."""
        from threads import services as thread_services

        retried = create(thread, assistant)
        services.runs_claim(worker_id="vanished", lease_seconds=1)
        [reaped] = services.runs_reap_expired_leases(now=timezone.now() + timedelta(seconds=5))
        assert reaped.available_at > timezone.now()  # backoff: not eligible yet
        newer = [
            create(thread_services.thread_create(metadata={}), assistant).run_id for _ in range(3)
        ]

        [first] = services.runs_claim(worker_id="w1")
        assert first.run.run_id == newer[0]  # the retried run must wait out its backoff
        Run.objects.filter(pk=retried.pk).update(available_at=timezone.now())
        claimed = [c.run.run_id for c in services.runs_claim(worker_id="w1", limit=3)]
        assert claimed == [retried.run_id, *newer[1:]]

    def test_a_run_enqueued_behind_a_running_one_is_not_claimable_until_it_ends(
        self, thread, assistant
    ):
        """One definition of claimable (runs_claimable_v1) for the claim, the executors'
        wake-up check and the sweeper: a run queued behind a running one wakes nobody."""
        from runs import selectors

        first = create(thread, assistant)
        [claim] = services.runs_claim(worker_id="w1")
        second = create(thread, assistant, multitask_strategy="enqueue")
        assert not selectors.runs_claimable_exist()
        assert not selectors.runs_claimable_exist(graph_ids=[assistant.graph_id])
        assert services.runs_claim(worker_id="w2") == []
        services.run_complete(run_id=first.run_id, lease_epoch=claim.lease_epoch)
        assert selectors.runs_claimable_exist(graph_ids=[assistant.graph_id])
        assert not selectors.runs_claimable_exist(graph_ids=["another-graph"])
        [next_claim] = services.runs_claim(worker_id="w2")
        assert next_claim.run.run_id == second.run_id


class TestReaper:
    def test_expired_leases_retry_then_fail_with_the_reason(self, thread, assistant, settings):
        run = create(thread, assistant, max_attempts=2)
        services.run_start(run_id=run.run_id, worker_id="w1", lease_seconds=1)
        later = timezone.now() + timedelta(seconds=5)
        reaped = services.runs_reap_expired_leases(now=later)
        assert [(r.run_id, r.status, r.attempt) for r in reaped] == [(run.run_id, "pending", 1)]
        assert thread_status(thread) == "busy"
        assert services.runs_reap_expired_leases(now=later) == []  # nothing left to reap

        retried = Run.objects.get(pk=run.pk)
        with pytest.raises(IllegalTransition, match="not available before"):
            services.run_start(run_id=run.run_id, worker_id="w2")  # backoff not over yet
        Run.objects.filter(pk=run.pk).update(
            available_at=retried.available_at - timedelta(minutes=1)
        )
        claim = services.run_start(run_id=run.run_id, worker_id="w2", lease_seconds=1)
        assert (claim.lease_epoch, claim.run.attempt) == (2, 2)

        final = services.runs_reap_expired_leases(now=timezone.now() + timedelta(seconds=5))
        assert [r.status for r in final] == ["error"]
        refreshed = Run.objects.get(pk=run.pk)
        assert (
            refreshed.error["error"] == "LeaseExpired"
            and "no attempts left" in refreshed.error["message"]
        )
        assert thread_status(thread) == "error"
        assert event_types(run.run_id)[-3:] == ["RunStarted", "RunLeaseExpired", "RunFailed"]

    def test_requeue_sends_an_errored_run_back(self, thread, assistant):
        run = create(thread, assistant)
        services.run_start(run_id=run.run_id, worker_id="w1")
        services.run_fail(run_id=run.run_id, lease_epoch=1, error="E", message="m")
        requeued = services.run_requeue(run_id=run.run_id)
        assert (requeued.status, requeued.attempt) == ("pending", 0)
        assert thread_status(thread) == "busy"
        with pytest.raises(IllegalTransition):
            services.run_requeue(run_id=run.run_id)
