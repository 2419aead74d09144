"""The scheduler's loop (``duragraph_site.scheduler``): jobs independent of each other, failures
logged and retried at the next period, and the reaper not held back by a run someone locked."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from duragraph_site import scheduler
from duragraph_site.db.listen import conninfo
from runs import services
from runs.models import Run


def test_a_slow_job_does_not_delay_another_and_a_failing_one_keeps_its_schedule():
    stop = threading.Event()
    slow_started, slow_release = threading.Event(), threading.Event()
    calls = {"fast": 0, "failing": 0}

    def slow() -> None:
        slow_started.set()
        slow_release.wait(10)

    def fast() -> None:
        calls["fast"] += 1

    def failing() -> None:
        calls["failing"] += 1
        if calls["failing"] >= 3:
            slow_release.set()  # a job that raised twice was called again: let the slow one go
        raise RuntimeError("database away")

    errors_before = scheduler.JOB_RUNS.labels("failing", "error")._value.get()
    jobs = [
        scheduler.Job("slow", 0.01, slow),
        scheduler.Job("fast", 0.01, fast),
        scheduler.Job("failing", 0.01, failing),
    ]
    runner = threading.Thread(target=scheduler.run, args=(jobs,), kwargs={"stop": stop})
    runner.start()
    assert slow_started.wait(10)
    assert slow_release.wait(10), "the failing job stopped being called"
    fast_while_slow = calls["fast"]
    stop.set()
    runner.join(10)
    assert not runner.is_alive()
    assert fast_while_slow >= 3, "the fast job waited for the slow one"
    assert scheduler.JOB_RUNS.labels("failing", "error")._value.get() - errors_before >= 3


def test_a_job_period_must_be_positive():
    with pytest.raises(ValueError, match="period"):
        scheduler.Job("reap", 0, lambda: None)


@pytest.mark.django_db(transaction=True)
def test_the_reaper_leaves_a_locked_run_for_later_and_takes_the_others(thread, assistant):
    from threads import services as thread_services

    locked = services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    other_thread = thread_services.thread_create(metadata={})
    free = services.run_create(
        thread_id=other_thread.thread_id, assistant_id=assistant.assistant_id
    )
    services.runs_claim(worker_id="frozen", limit=2, lease_seconds=1)
    later = timezone.now() + timedelta(seconds=5)
    # A transaction holds the first run's thread, as a writer frozen before its commit would.
    with psycopg.connect(conninfo()) as holder:
        holder.execute(
            "SELECT 1 FROM threads_thread WHERE thread_id = %s FOR UPDATE", [thread.thread_id]
        )
        reaped = services.runs_reap_expired_leases(now=later)
        assert [run.run_id for run in reaped] == [free.run_id]
        assert Run.objects.get(pk=locked.pk).status == "running"
    [taken_later] = services.runs_reap_expired_leases(now=later)
    assert taken_later.run_id == locked.run_id and taken_later.status == "pending"
