"""The executors' wake-ups (``workers.queue_listener``): a run queued behind a running one on
its thread wakes no executor until the first run ends; a claimable run does at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from duragraph_site.db.listen import conninfo
from runs import services as run_services
from workers.queue_listener import RunQueueListener

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Pool:
    """Celery's pool as the listener uses it: the drains it was handed."""

    drains: list[Any] = field(default_factory=list)

    def apply_async(self, target, args, callback, error_callback) -> None:  # noqa: ANN001
        self.drains.append(args)


@dataclass
class Worker:
    concurrency: int = 4
    pool: Pool = field(default_factory=Pool)
    hostname: str = "executor@test"


@pytest.fixture
def wake_ups():
    """``wake_ups(notified=n)``: what the listener dispatches after *n* notifications."""
    worker = Worker()
    listener = RunQueueListener.__new__(RunQueueListener)  # the step, without a Celery blueprint
    listener.__init__(worker)
    listener.worker_id, listener.graph_ids = "executor:test", None
    with psycopg.connect(conninfo(), autocommit=True) as connection:

        def dispatched(notified: int) -> int:
            before = len(worker.pool.drains)
            listener._last_beat = float("inf")  # no heartbeat: not what is tested here
            listener._last_poll = float("-inf")  # the poll is due (as every second)
            notifies = [psycopg.Notify("duragraph_run_queued", "", 0)] * notified
            listener._listen(worker, connection, notifies)
            with listener._lock:
                listener._in_flight = 0  # the drains "ended"
            return len(worker.pool.drains) - before

        yield dispatched


def test_a_run_queued_behind_a_running_one_wakes_no_executor(wake_ups, thread, assistant):
    first = run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    assert wake_ups(notified=1) == 1  # claimable: one drain
    [claim] = run_services.runs_claim(worker_id="w1")
    run_services.run_create(
        thread_id=thread.thread_id,
        assistant_id=assistant.assistant_id,
        multitask_strategy="enqueue",
    )
    assert wake_ups(notified=1) == 0  # its NOTIFY: nothing to claim behind the running run
    assert wake_ups(notified=0) == 0  # nor does the poll
    run_services.run_complete(run_id=first.run_id, lease_epoch=claim.lease_epoch)
    assert wake_ups(notified=0) == 1  # the poll finds it once the first run ended


def test_a_burst_of_runs_gets_a_drain_per_notification(wake_ups, assistant):
    from threads import services as thread_services

    for _ in range(3):
        run_services.run_create(
            thread_id=thread_services.thread_create(metadata={}).thread_id,
            assistant_id=assistant.assistant_id,
        )
    assert wake_ups(notified=3) == 3
