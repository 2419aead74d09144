"""``manage.py relay_outbox`` as a real process: killed, restarted, and NATS going away.

Runs stream output (``runs.services.run_record_output``, the executor's hot path) from threads
of this test process into the test database while the relay publishes to an embedded NATS. The
ground truth is JetStream itself: every event must be there exactly once (one message per
event id, as many messages on the run's subject as the run has output events).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from django.db import connection

from events.models import Event, Outbox
from runs.domain import RunOutputStreamed
from tests.e2e.processes import Process, start, wait_for
from tests.jetstream import ControlledNats, count, messages

pytestmark = pytest.mark.e2e


# -- NATS ------------------------------------------------------------------------------------
@pytest.fixture
def nats_server(tmp_path) -> ControlledNats:
    """A nats-server of this test's own: stopped and started again (same port, same store)."""
    server = ControlledNats(store_dir=tmp_path / "nats").start()
    yield server
    server.stop()


# -- the relay process -----------------------------------------------------------------------
@pytest.fixture
def relays(server_env, e2e_database, nats_server, tmp_path):
    """Start ``manage.py relay_outbox`` processes on demand; all are stopped at the end."""
    env = {**server_env, "NATS_URL": nats_server.url, "DURAGRAPH_RELAY_BATCH_SIZE": "100"}
    started: list[Process] = []

    def start_relay(name: str = "relay") -> Process:
        name = f"{name}-{len(started)}"
        process = start(name, [sys.executable, "manage.py", "relay_outbox"], env, tmp_path)
        started.append(process)
        wait_for(
            lambda: "relay connected to NATS" in process.output() or not process.alive(),
            timeout=30,
            what=f"{name} to connect",
        )
        assert process.alive(), process.output()
        return process

    yield start_relay
    for process in started:
        process.stop()


# -- runs streaming output -------------------------------------------------------------------
@dataclass
class StreamingRun:
    assistant_id: uuid.UUID
    thread_id: uuid.UUID
    run_id: uuid.UUID
    lease_epoch: int

    @property
    def subject(self) -> str:
        return f"duragraph.threads.{self.thread_id}.runs.{self.run_id}"


def leased_runs(count: int) -> list[StreamingRun]:
    """*count* runs, each leased to this test as their worker (nothing else executes them)."""
    from assistants import services as assistant_services
    from runs import services as run_services
    from threads import services as thread_services

    assistant = assistant_services.assistant_create(
        graph_id="agent", name=f"relay-e2e-{uuid.uuid4().hex[:8]}"
    )
    runs = []
    for _ in range(count):
        thread = thread_services.thread_create(metadata={})
        run = run_services.run_create(
            thread_id=thread.thread_id, assistant_id=assistant.assistant_id
        )
        claim = run_services.run_start(run_id=run.run_id, worker_id="relay-e2e")
        runs.append(
            StreamingRun(assistant.assistant_id, thread.thread_id, run.run_id, claim.lease_epoch)
        )
    return runs


class OutputWriters:
    """One thread per run appending its output in small transactions, as executors do."""

    def __init__(
        self, runs: list[StreamingRun], *, events: int, per_call: int = 10, pause: float = 0.0
    ) -> None:
        self.runs = runs
        self.written = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._write, args=(run, events, per_call, pause))
            for run in runs
        ]
        for thread in self._threads:
            thread.start()

    def _write(self, run: StreamingRun, events: int, per_call: int, pause: float) -> None:
        from runs import services as run_services

        try:
            for first in range(0, events, per_call):
                run_services.run_record_output(
                    run_id=run.run_id,
                    thread_id=run.thread_id,
                    lease_epoch=run.lease_epoch,
                    events=[
                        RunOutputStreamed(mode="custom", data={"n": n})
                        for n in range(first, min(first + per_call, events))
                    ],
                )
                with self._lock:
                    self.written += min(per_call, events - first)
                time.sleep(pause)
        except BaseException as error:
            self.errors.append(error)
        finally:
            connection.close()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(120)
        assert not self.errors, self.errors


def stream_ids(runs: list[StreamingRun]) -> set[uuid.UUID]:
    """Every stream the runs wrote to: the runs, their threads, their assistant."""
    return {i for r in runs for i in (r.assistant_id, r.thread_id, r.run_id)}


def outbox_drained(runs: list[StreamingRun]) -> bool:
    event_ids = Event.objects.filter(stream_id__in=stream_ids(runs)).values("id")
    return not Outbox.objects.filter(event_id__in=event_ids, published_at__isnull=True).exists()


def assert_each_event_published_once(nats_url: str, runs: list[StreamingRun]) -> None:
    """JetStream holds every event of these runs' streams once, and no message twice."""
    stored: dict[str, list[int]] = {}
    for message in messages(nats_url, "duragraph.>"):
        stored.setdefault(message.subject, []).append(int(message.headers["Nats-Msg-Id"]))
    every_msg_id = [msg_id for ids in stored.values() for msg_id in ids]
    assert len(every_msg_id) == len(set(every_msg_id)), "a message was stored twice"
    expected: dict[str, set[int]] = {}
    rows = Outbox.objects.filter(
        event_id__in=Event.objects.filter(stream_id__in=stream_ids(runs)).values("id")
    )
    for subject, event_id in rows.values_list("subject", "event_id"):
        expected.setdefault(subject, set()).add(event_id)
    assert sum(len(ids) for ids in expected.values()) > len(runs) * 100
    for subject, event_ids in expected.items():
        msg_ids = stored.get(subject, [])
        assert set(msg_ids) == event_ids, (
            f"{subject}: missing {sorted(event_ids - set(msg_ids))[:5]}"
        )
        assert count(nats_url, subject) == len(event_ids)


# -- the scenarios ---------------------------------------------------------------------------
def test_relay_killed_between_publish_and_commit_publishes_nothing_twice(
    relays, nats_server, django_db_blocker, server_env
):
    with django_db_blocker.unblock():
        (run,) = leased_runs(1)
        OutputWriters([run], events=1000, per_call=100).join()
        # Let the relay claim and publish, but not commit: SHARE on the outbox lets its
        # SELECT ... FOR UPDATE through and blocks its UPDATE (mark_outbox) until we let go.
        with psycopg.connect(server_env["DATABASE_URL"]) as blocker:
            blocker.execute("LOCK TABLE events_outbox IN SHARE MODE")
            first = relays("first")
            wait_for(
                lambda: count(nats_server.url, "duragraph.>") >= 100,
                timeout=30,
                what="the first batch to reach JetStream",
            )
            first.signal(signal.SIGKILL)
            first.popen.wait()
        second = relays("second")
        wait_for(lambda: outbox_drained([run]), timeout=60, what="the outbox to drain")
        assert_each_event_published_once(nats_server.url, [run])
    assert "already in JetStream" in second.output()


def test_relay_sigkilled_while_runs_stream_then_restarted(relays, nats_server, django_db_blocker):
    with django_db_blocker.unblock():
        runs = leased_runs(4)
        relay_process = relays()
        writers = OutputWriters(runs, events=1500, per_call=10, pause=0.01)
        wait_for(lambda: writers.written >= 1500, timeout=60, what="output to stream")
        relay_process.signal(signal.SIGKILL)
        relay_process.popen.wait()
        killed_at = writers.written
        wait_for(
            lambda: writers.written >= min(killed_at + 100, len(runs) * 1500),
            timeout=30,
            what="events to keep coming with no relay at all",
        )
        relays()  # restarted
        writers.join()
        wait_for(
            lambda: outbox_drained(runs),
            timeout=60,
            what="the restarted relay to catch up",
        )
        assert_each_event_published_once(nats_server.url, runs)


def test_nats_stopped_mid_run_the_relay_backs_off_and_catches_up(
    relays, nats_server, django_db_blocker
):
    with django_db_blocker.unblock():
        runs = leased_runs(2)
        relay_process = relays()
        writers = OutputWriters(runs, events=1500, per_call=10, pause=0.01)
        wait_for(lambda: writers.written >= 500, timeout=60, what="output to stream")
        nats_server.stop()
        written_while_down = writers.written
        wait_for(
            lambda: (
                "NATS unavailable" in relay_process.output()
                and writers.written >= min(written_while_down + 100, len(runs) * 1500)
            ),
            timeout=30,
            what="the relay to find NATS gone while appends go on (they never wait for NATS)",
        )
        assert writers.written > written_while_down
        nats_server.start()  # same port, same store
        writers.join()
        wait_for(
            lambda: outbox_drained(runs),
            timeout=60,
            what="the relay to catch up",
        )
        assert_each_event_published_once(nats_server.url, runs)
    assert relay_process.alive()
    assert "NATS unavailable" in relay_process.output()
    assert "NATS is back" in relay_process.output()

    relay_process.signal(signal.SIGTERM)
    assert relay_process.popen.wait(15) == 0  # finishes its batch and exits cleanly
