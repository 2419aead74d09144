"""Run and worker metrics on real PostgreSQL: each series moves when, and only when, what it
counts happens (and commits)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from runs import metrics as run_metrics
from runs import services as run_services
from runs.models import Run
from workers import metrics as worker_metrics
from workers import services as worker_services
from workers.models import Worker

pytestmark = pytest.mark.django_db


def sample(name: str, **labels: str) -> float:
    run_metrics.RUNS.invalidate()
    worker_metrics.WORKERS.invalidate()
    return REGISTRY.get_sample_value(name, labels) or 0.0


def new_run(thread, assistant, **kwargs) -> Run:
    return run_services.run_create(
        thread_id=thread.thread_id, assistant_id=assistant.assistant_id, **kwargs
    )


def test_runs_by_status_and_the_queue_are_read_at_scrape_time(thread, assistant):
    before = {s: sample("duragraph_runs", status=s) for s in ("pending", "running", "success")}
    assert sample("duragraph_run_queue_depth") == 0
    assert sample("duragraph_run_queue_oldest_age_seconds") == 0

    waiting = new_run(thread, assistant)
    Run.objects.filter(pk=waiting.pk).update(available_at=timezone.now() - timedelta(seconds=40))
    new_run(thread, assistant, after_seconds=600)  # not claimable yet: not in the queue
    assert sample("duragraph_runs", status="pending") == before["pending"] + 2
    assert sample("duragraph_run_queue_depth") == 1
    assert 40 <= sample("duragraph_run_queue_oldest_age_seconds") < 100

    run_services.runs_claim(worker_id="w1")
    assert sample("duragraph_runs", status="running") == before["running"] + 1
    assert sample("duragraph_run_queue_depth") == 0


def test_claim_latency_and_run_duration_are_observed_on_commit(
    thread, assistant, django_capture_on_commit_callbacks
):
    claimed = {"worker_kind": "builtin"}
    claims_before = sample("duragraph_run_claim_wait_seconds_count", **claimed)
    waits_before = sample("duragraph_run_claim_wait_seconds_sum", **claimed)
    durations_before = sample("duragraph_run_duration_seconds_count", status="success")
    run = new_run(thread, assistant)
    Run.objects.filter(pk=run.pk).update(available_at=timezone.now() - timedelta(seconds=3))

    [claim] = run_services.runs_claim(worker_id="w1")
    assert sample("duragraph_run_claim_wait_seconds_count", **claimed) == claims_before + 1
    assert 3 <= sample("duragraph_run_claim_wait_seconds_sum", **claimed) - waits_before < 60

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run_services.run_complete(run_id=run.run_id, lease_epoch=claim.lease_epoch, output={})
    # Counted only when the transaction commits, never for one that rolls back.
    assert sample("duragraph_run_duration_seconds_count", status="success") == durations_before
    for callback in callbacks:
        callback()
    assert sample("duragraph_run_duration_seconds_count", status="success") == durations_before + 1


def test_lease_expirations_and_retries_are_counted(
    thread, assistant, django_capture_on_commit_callbacks
):
    retried_before = sample("duragraph_run_lease_expirations_total", outcome="retried")
    failed_before = sample("duragraph_run_lease_expirations_total", outcome="failed")
    retries_before = sample("duragraph_run_retries_total")
    errors_before = sample("duragraph_run_duration_seconds_count", status="error")
    run = new_run(thread, assistant, max_attempts=2)
    for attempt in (1, 2):
        worker_services.worker_register(worker_id=f"w{attempt}", kind="builtin")
        run_services.run_start(run_id=run.run_id, worker_id=f"w{attempt}", lease_seconds=600)
        with django_capture_on_commit_callbacks(execute=True):
            worker_services.worker_deregister(worker_id=f"w{attempt}")  # hands its run back
        Run.objects.filter(pk=run.pk).update(available_at=timezone.now())

    assert sample("duragraph_run_lease_expirations_total", outcome="retried") == retried_before + 1
    assert sample("duragraph_run_lease_expirations_total", outcome="failed") == failed_before + 1
    assert sample("duragraph_run_retries_total") == retries_before + 1
    assert sample("duragraph_run_duration_seconds_count", status="error") == errors_before + 1


def test_workers_by_kind_and_status(client):
    worker_services.worker_register(worker_id="a", kind="builtin")
    worker_services.worker_register(worker_id="b", kind="remote")
    worker_services.worker_register(worker_id="c", kind="remote")
    worker_services.worker_drain(worker_id="c")
    Worker.objects.filter(worker_id="a").update(
        last_heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    worker_services.workers_mark_lost()
    assert sample("duragraph_workers", kind="builtin", status="lost") == 1
    assert sample("duragraph_workers", kind="remote", status="online") == 1
    assert sample("duragraph_workers", kind="remote", status="draining") == 1
    assert sample("duragraph_workers", kind="remote", status="offline") == 0

    scraped = client.get("/metrics").content.decode()
    assert re.search(r'^duragraph_workers\{kind="remote",status="online"\} 1\.0$', scraped, re.M)
    assert re.search(r'^duragraph_runs\{status="pending"\} \d', scraped, re.M)
