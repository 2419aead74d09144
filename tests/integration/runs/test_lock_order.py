"""Lock order: every writer locks a run's thread before the run (runs.services), including the
executor's one-statement fenced writes, or a cancel and a checkpoint write would deadlock."""

from __future__ import annotations

import base64
import threading
import time

import psycopg
import pytest
from django.db import connection
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from runs import services as run_services
from tests.integration.events.test_store import libpq_conninfo

pytestmark = pytest.mark.django_db(transaction=True)


def a_checkpoint(run_id) -> dict:
    kind, blob = JsonPlusSerializer().dumps_typed({"v": 4, "id": "1", "channel_values": {}})
    return {
        "checkpoint_ns": "",
        "checkpoint_id": "1efb0000-0000-6000-8000-000000000001",
        "parent_checkpoint_id": None,
        "run_id": run_id,
        "checkpoint": {"type": kind, "data": base64.b64encode(blob).decode()},
        "metadata": {"source": "loop", "step": 0},
        "values": {"x": 1},
    }


def test_a_checkpoint_write_waits_for_the_thread_before_touching_the_run(thread, assistant):
    run = run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    claim = run_services.run_start(run_id=run.run_id, worker_id="w1", lease_seconds=60)
    errors: list[BaseException] = []

    def write_checkpoint() -> None:
        try:
            run_services.run_save_checkpoint(
                run_id=run.run_id,
                lease_epoch=claim.lease_epoch,
                thread_id=thread.thread_id,
                checkpoint=a_checkpoint(run.run_id),
            )
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    with psycopg.connect(libpq_conninfo()) as cancel_side:
        # A cancel's first step: the thread, FOR UPDATE.
        cancel_side.execute(
            "SELECT 1 FROM threads_thread WHERE thread_id = %s FOR UPDATE", [thread.thread_id]
        )
        writer = threading.Thread(target=write_checkpoint)
        writer.start()
        with psycopg.connect(libpq_conninfo(), autocommit=True) as observer:
            deadline = time.monotonic() + 10
            while not observer.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            ).fetchone():
                assert time.monotonic() < deadline, "the checkpoint write never waited"
                time.sleep(0.02)
        # Its second step: the run. The waiting writer holds no lock on it.
        cancel_side.execute(
            "SELECT 1 FROM runs_run WHERE run_id = %s FOR UPDATE NOWAIT", [run.run_id]
        )
        cancel_side.commit()
    writer.join(10)
    assert not writer.is_alive() and errors == []
