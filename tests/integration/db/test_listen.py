"""The one LISTEN helper (``duragraph_site.db.listen``) against real PostgreSQL: notifications in
order, catch-up after a reconnection, a prompt stop, the idle end."""

from __future__ import annotations

import queue
import threading
import time

import psycopg
import pytest

from duragraph_site.db.listen import Backoff, Listener, conninfo

pytestmark = pytest.mark.django_db(transaction=True)

CHANNEL = "duragraph_test_listen"
TIMEOUT = 10


def notify(payload: str, channel: str = CHANNEL) -> None:
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", [channel, payload])


def backends(application_name: str) -> int:
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        ).fetchone()
    return row[0]


class Recorder:
    """Collects what a listener hands over, for a test to wait on."""

    def __init__(self) -> None:
        self.payloads: queue.Queue[str] = queue.Queue()
        self.connects = 0
        self.wakes = 0
        self.connected = threading.Event()

    def on_connect(self, conn: psycopg.Connection) -> None:
        self.connects += 1
        self.connected.set()

    def on_wake(self, conn: psycopg.Connection, notifies: list[psycopg.Notify]) -> None:
        self.wakes += 1
        for item in notifies:
            self.payloads.put(item.payload)

    def next(self) -> str:
        return self.payloads.get(timeout=TIMEOUT)


def listener(recorder: Recorder, *channels: str, **options) -> Listener:
    return Listener(
        *(channels or (CHANNEL,)),
        name="test-listener",
        on_wake=recorder.on_wake,
        on_connect=recorder.on_connect,
        **options,
    )


def test_notifications_arrive_in_order_and_each_once():
    recorder = Recorder()
    heard = listener(recorder, CHANNEL, "duragraph_test_other", tick_seconds=30)
    assert heard.start() and not heard.start(), "a second start is a no-op"
    try:
        assert heard.wait_ready(TIMEOUT) and heard.listening
        for n in range(5):
            notify(str(n))
        notify("other", channel="duragraph_test_other")
        # A tick of 30 s: these arrive because the wait ends on the notification itself.
        assert [recorder.next() for _ in range(6)] == ["0", "1", "2", "3", "4", "other"]
    finally:
        heard.stop()
    assert recorder.payloads.empty()


def test_stop_is_prompt_and_closes_the_connection():
    recorder = Recorder()
    heard = listener(recorder, tick_seconds=60)
    heard.start()
    assert heard.wait_ready(TIMEOUT)
    started = time.monotonic()
    heard.stop()
    assert time.monotonic() - started < 1.0, "stop does not wait for the tick"
    assert not heard.listening
    assert recorder.connects == 1
    # Started again: a new thread, a new connection.
    heard.start()
    try:
        assert heard.wait_ready(TIMEOUT)
        notify("again")
        assert recorder.next() == "again"
    finally:
        heard.stop()


def test_ticks_without_notifications():
    recorder = Recorder()
    heard = listener(recorder, tick_seconds=0.05)
    heard.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while recorder.wakes < 3:
            assert time.monotonic() < deadline, "on_wake runs every tick"
            time.sleep(0.05)
    finally:
        heard.stop()
    assert recorder.payloads.empty()


def test_a_lost_connection_is_reopened_and_on_connect_runs_again():
    recorder = Recorder()
    name = "duragraph-test-listen-reconnect"
    heard = listener(
        recorder, dsn=psycopg.conninfo.make_conninfo(conninfo(), application_name=name)
    )
    heard.start()
    try:
        assert heard.wait_ready(TIMEOUT)
        recorder.connected.clear()
        with psycopg.connect(conninfo(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                [name],
            )
        assert recorder.connected.wait(TIMEOUT), "reconnected"
        assert recorder.connects == 2
        notify("after")
        assert recorder.next() == "after"
    finally:
        heard.stop()
    assert backends(name) == 0


def test_a_database_error_in_on_wake_counts_as_a_lost_connection():
    recorder = Recorder()
    failed = threading.Event()

    def on_wake(conn: psycopg.Connection, notifies: list[psycopg.Notify]) -> None:
        if not failed.is_set():
            failed.set()
            conn.execute("SELECT 1/0")  # psycopg.errors.DivisionByZero
        recorder.on_wake(conn, notifies)

    heard = Listener(
        CHANNEL,
        name="test-listener",
        on_wake=on_wake,
        on_connect=recorder.on_connect,
        tick_seconds=0.05,
    )
    heard.start()
    try:
        assert failed.wait(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while recorder.connects < 2:
            assert time.monotonic() < deadline, "reconnected after the error"
            time.sleep(0.02)
    finally:
        heard.stop()


def test_an_idle_listener_ends_and_starts_again_when_needed():
    recorder = Recorder()
    needed = threading.Event()
    name = "duragraph-test-listen-idle"
    heard = listener(
        recorder,
        tick_seconds=0.05,
        idle_seconds=0.2,
        in_use=needed.is_set,
        dsn=psycopg.conninfo.make_conninfo(conninfo(), application_name=name),
    )
    needed.set()
    heard.start()
    assert heard.wait_ready(TIMEOUT)
    time.sleep(0.5)  # longer than idle_seconds, but in use all along
    assert heard.listening
    needed.clear()
    deadline = time.monotonic() + TIMEOUT
    while heard.listening or backends(name):
        assert time.monotonic() < deadline, "the idle listener ended and closed its connection"
        time.sleep(0.05)
    needed.set()
    assert heard.start(), "a new thread"
    try:
        assert heard.wait_ready(TIMEOUT)
        notify("back")
        assert recorder.next() == "back"
    finally:
        heard.stop()


def test_a_database_that_is_down_makes_ready_return_false_and_is_retried():
    recorder = Recorder()
    heard = listener(
        recorder,
        dsn=psycopg.conninfo.make_conninfo(conninfo(), dbname="duragraph_no_such_database"),
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.05,
    )
    heard.start()
    try:
        assert heard.wait_ready(TIMEOUT) is False
        assert recorder.connects == 0
    finally:
        heard.stop()


def test_backoff_doubles_up_to_its_maximum_and_resets():
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


@pytest.mark.parametrize(
    ("channels", "options"),
    [
        ((), {}),
        ((CHANNEL,), {"tick_seconds": 0}),
        ((CHANNEL,), {"idle_seconds": 1.0}),
        ((CHANNEL,), {"backoff_initial_seconds": 2.0, "backoff_max_seconds": 1.0}),
    ],
)
def test_bad_options_are_refused_by_name(channels, options):
    with pytest.raises(ValueError):
        Listener(*channels, name="bad", on_wake=lambda conn, notifies: None, **options)
