"""The worker registry and worker liveness: a silent worker's runs go to others, fast."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from duragraph_site.errors import InvalidInput, NotFound
from events import store
from runs import services as run_services
from runs.models import Run
from workers import reaper, services
from workers.models import Worker, WorkerStatus

pytestmark = pytest.mark.django_db


def register(worker_id: str = "w1", **kwargs) -> Worker:
    return services.worker_register(
        worker_id=worker_id, kind="remote", graph_ids=["agent"], heartbeat_interval=1.0, **kwargs
    )


def test_register_heartbeat_and_deregister():
    worker = register(max_concurrent_runs=3, metadata={"sdk": "0.3.3"})
    assert (worker.status, worker.graph_ids, worker.max_concurrent_runs) == ("online", ["agent"], 3)
    beat = services.worker_heartbeat(
        worker_id="w1", reported_status="ready", active_runs=2, total_runs=7, failed_runs=1
    )
    assert (beat.active_runs, beat.total_runs, beat.failed_runs, beat.reported_status) == (
        2,
        7,
        1,
        "ready",
    )
    assert beat.last_heartbeat_at >= worker.last_heartbeat_at
    assert (
        services.worker_heartbeat(worker_id="w1", reported_status="draining").status == "draining"
    )
    services.worker_deregister(worker_id="w1")
    with pytest.raises(NotFound):
        services.worker_heartbeat(worker_id="w1")


def test_the_same_id_registers_again_and_unknown_ids_are_not_found():
    first = register()
    again = register(max_concurrent_runs=5)
    assert again.registered_at == first.registered_at and again.max_concurrent_runs == 5
    assert Worker.objects.count() == 1
    for command in (
        lambda: services.worker_heartbeat(worker_id="ghost"),
        lambda: services.worker_deregister(worker_id="ghost"),
        lambda: services.worker_drain(worker_id="ghost"),
    ):
        with pytest.raises(NotFound):
            command()


@pytest.mark.parametrize("worker_id", ["", "   ", "x" * 256])
def test_bad_worker_ids_are_refused(worker_id):
    with pytest.raises(InvalidInput, match="worker_id"):
        services.worker_register(worker_id=worker_id, kind="remote")


def test_silent_workers_are_lost_and_must_register_again():
    register("quiet")
    register("chatty")
    Worker.objects.filter(worker_id="quiet").update(
        last_heartbeat_at=timezone.now() - timedelta(seconds=10)
    )
    assert services.workers_mark_lost() == ["quiet"]
    assert Worker.objects.get(worker_id="quiet").status == WorkerStatus.LOST
    with pytest.raises(NotFound):
        services.worker_heartbeat(worker_id="quiet")  # the SDK re-registers on this 404
    assert register("quiet").status == WorkerStatus.ONLINE


def test_a_lost_workers_runs_are_retried_before_their_lease_lapses(thread, assistant):
    register("w1")
    run = run_services.run_create(
        thread_id=thread.thread_id, assistant_id=assistant.assistant_id, max_attempts=2
    )
    run_services.run_start(run_id=run.run_id, worker_id="w1", lease_seconds=600)
    assert reaper.workers_reap() == []  # alive and leased: nothing to do
    Worker.objects.filter(worker_id="w1").update(
        last_heartbeat_at=timezone.now() - timedelta(seconds=10)
    )
    [reaped] = reaper.workers_reap()
    assert (reaped.run_id, reaped.status, reaped.worker_id) == (run.run_id, "pending", None)
    retried = store.load(run.run_id)[-1]
    assert retried.type == "RunRetried" and "was lost (no heartbeat)" in retried.payload["reason"]

    Run.objects.filter(pk=run.pk).update(available_at=timezone.now())
    register("w2")
    run_services.run_start(run_id=run.run_id, worker_id="w2", lease_seconds=600)
    Worker.objects.filter(worker_id="w2").update(
        last_heartbeat_at=timezone.now() - timedelta(seconds=10)
    )
    [failed] = reaper.workers_reap()
    assert failed.status == "error" and "no attempts left" in failed.error["message"]
