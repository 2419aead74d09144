"""SSE through the official client: our ``runs.stream`` matches ``langgraph dev``, event for event.

Real processes: daphne, a Celery executor and, for the live-update path, NATS (``NATS_URL`` from
the environment, else an embedded ``nats-server``) with the outbox relay. The reference output
was recorded once by ``tests/e2e/record_reference_streams.py`` into
``tests/e2e/fixtures/reference_streams.json``; both sides go through the same normalization.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client

from tests.e2e.processes import start_live_stack, stop_live_stack, wait_for
from tests.e2e.record_reference_streams import (
    CASES,
    FIXTURE,
    arun_case,
    normalize_parts,
    run_case,
)
from tests.jetstream import ControlledNats

pytestmark = pytest.mark.e2e

REFERENCE = json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def stack(server_env, system_assistants, nats_url, tmp_path_factory):
    live = start_live_stack(server_env, nats_url, tmp_path_factory.mktemp("streaming-logs"))
    yield live
    stop_live_stack(live)


@pytest.fixture
def stack_with_own_nats(server_env, system_assistants, tmp_path):
    """A live stack on a nats-server of its own, which the test may stop and start again (the
    shared one may be the machine's, from ``NATS_URL``)."""
    nats = ControlledNats(store_dir=tmp_path / "nats").start()
    (logs := tmp_path / "logs").mkdir()
    live = start_live_stack(server_env, nats.url, logs)
    yield live, nats
    stop_live_stack(live)
    nats.stop()


@pytest.fixture
def client(stack):
    client = get_sync_client(url=stack.url, api_key=None)
    yield client
    client.http.client.close()


def _case_params() -> list:
    return [pytest.param(case, id=case["name"]) for case in CASES]


def assert_matches_reference(name: str, ours: list) -> None:
    """Equal to the recorded reference; on a difference, say where, frame by frame."""
    theirs = REFERENCE[name]
    if ours == theirs:
        return
    events = ([event for event, _ in ours], [event for event, _ in theirs])
    assert events[0] == events[1], f"{name}: event names differ (ours, reference)"
    for index, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        assert mine == reference, (
            f"{name}: frame {index} ({mine[0]}) differs\n ours:      {json.dumps(mine[1])}\n"
            f" reference: {json.dumps(reference[1])}"
        )


@pytest.mark.parametrize("case", _case_params())
def test_sync_client_stream_matches_the_reference(client, case):
    assert_matches_reference(case["name"], normalize_parts(run_case(client, case)))


@pytest.mark.parametrize("case", _case_params())
def test_async_client_stream_matches_the_reference(stack, case):
    async def go() -> list:
        client = get_client(url=stack.url, api_key=None)
        try:
            return await arun_case(client, case)
        finally:
            await client.http.client.aclose()

    assert_matches_reference(case["name"], normalize_parts(asyncio.run(go())))


# -- raw SSE ---------------------------------------------------------------------------------
def _frames(lines: list[str]) -> list[dict]:
    """Parse SSE text lines into ``{"event", "data", "id"}`` dicts (comments kept as such)."""
    frames, current = [], {}
    for line in lines:
        if line.startswith(":"):
            frames.append({"comment": line[1:].strip()})
        elif not line:
            if current:
                frames.append(current)
            current = {}
        else:
            key, _, value = line.partition(": ")
            current[key] = json.loads(value) if key == "data" else value
    return frames


def test_wire_format_headers_ids_and_locations(stack):
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()
        body = {"assistant_id": "writer", "input": {"items": []}, "stream_mode": ["values"]}
        with http.stream(
            "POST", f"/api/v1/threads/{thread['thread_id']}/runs/stream", json=body
        ) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["x-accel-buffering"] == "no"
            frames = _frames(list(r.iter_lines()))
        run_id = frames[0]["data"]["run_id"]
        assert r.headers["location"] == (
            f"/api/v1/threads/{thread['thread_id']}/runs/{run_id}/stream"
        )
        assert (
            r.headers["content-location"] == f"/api/v1/threads/{thread['thread_id']}/runs/{run_id}"
        )
        assert [f["event"] for f in frames] == ["metadata", "values", "values", "values"]
        ids = [int(f["id"]) for f in frames]
        assert ids == sorted(set(ids)), "ids strictly increase"

        stateless = http.post("/runs/stream", json=body)
        frames = _frames(stateless.text.splitlines())
        run_id = frames[0]["data"]["run_id"]
        assert stateless.headers["location"] == f"/runs/{run_id}/stream"
        replay = http.get(f"/runs/{run_id}/stream", headers={"Last-Event-ID": "0"})
        assert _frames(replay.text.splitlines()) == frames


def test_validation_errors_are_json_before_the_stream(stack):
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()
        bad = http.post(
            f"/threads/{thread['thread_id']}/runs/stream",
            json={"assistant_id": "writer", "stream_mode": ["nope"]},
        )
        assert bad.status_code == 422 and "detail" in bad.json()
        missing = http.post(
            "/threads/00000000-0000-0000-0000-000000000000/runs/stream",
            json={"assistant_id": "writer"},
        )
        assert missing.status_code == 404 and "detail" in missing.json()
        join = http.get(f"/threads/{thread['thread_id']}/runs/{thread['thread_id']}/stream")
        assert join.status_code == 404
        bad_id = http.get(
            f"/threads/{thread['thread_id']}/stream", headers={"Last-Event-ID": "x-1"}
        )
        assert bad_id.status_code == 422


def test_join_halfway_gets_every_later_event(stack, client):
    thread = client.threads.create()
    run = client.runs.create(
        thread["thread_id"],
        "paced",
        input={"delay": 0.6},
        stream_mode=["values", "updates", "custom"],
    )
    # Wait until the run is visibly under way, then join.
    wait_for(
        lambda: any(e["type"] == "RunOutputStreamed" for e in _events(stack, run["run_id"])),
        timeout=30,
        what="the run to stream its first chunk",
    )
    joined = list(client.runs.join_stream(thread["thread_id"], run["run_id"]))
    everything = list(
        client.runs.join_stream(thread["thread_id"], run["run_id"], last_event_id="0")
    )
    assert joined[0].event == "metadata"
    later = [(p.event, p.data, p.id) for p in joined[1:]]
    all_parts = [(p.event, p.data, p.id) for p in everything]
    assert later, "the join saw the rest of the run"
    assert later == all_parts[-len(later) :], "every event after the join point, in order"
    assert [p.event for p in everything][-1] == "values"
    assert everything[-1].data == {"delay": 0.6, "done": [1, 2, 3]}


def _events(stack, run_id: str) -> list[dict]:
    """The run's events, read straight from the log (through the database, not the API)."""
    import psycopg

    with psycopg.connect(stack.env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT version, type FROM events_event WHERE stream_id = %s ORDER BY version",
            [run_id],
        ).fetchall()
    return [{"version": v, "type": t} for v, t in rows]


def test_last_event_id_reconnect_after_a_forced_disconnect(stack):
    """Drop the connection mid-run, resume with the last id seen: nothing lost, nothing twice."""
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()
        body = {
            "assistant_id": "paced",
            "input": {"delay": 0.4},
            "stream_mode": ["values", "updates", "custom", "tasks"],
        }
        path = f"/threads/{thread['thread_id']}/runs/stream"
        first: list[dict] = []
        with http.stream("POST", path, json=body) as response:
            location = response.headers["location"]
            lines: list[str] = []
            for line in response.iter_lines():
                lines.append(line)
                first = [f for f in _frames(lines) if "event" in f]
                if any(f["event"] == "custom" for f in first):
                    break  # a forced disconnect, mid-run
        assert first and first[-1]["event"] == "custom"
        resumed = http.get(location, headers={"Last-Event-ID": first[-1]["id"]})
        rest = [f for f in _frames(resumed.text.splitlines()) if "event" in f]
        full = http.get(location, headers={"Last-Event-ID": "0"})
        everything = [f for f in _frames(full.text.splitlines()) if "event" in f]
    assert [f["id"] for f in first + rest] == [f["id"] for f in everything]
    assert first + rest == everything
    assert [f["event"] for f in everything].count("custom") == 3


class CuttingProxy:
    """A TCP proxy in front of the server whose open connections :meth:`cut` drops at once (a
    network blip: the client sees its stream end without the end of the response)."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.connections += 1
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def cut(self) -> None:
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)  # the pumps wake up, and close both ends
        self.sockets.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_sdk_reconnects_by_itself_after_a_dropped_connection(stack):
    """The SDK's own reconnection (``Location`` + ``Last-Event-ID``) after the network dropped
    the stream mid-run: the parts it yields are exactly the run's frames, each once."""
    proxy = CuttingProxy(stack.url)
    client = get_sync_client(url=proxy.url, api_key=None)
    try:
        thread = client.threads.create()
        parts = []
        cut_at = None
        for part in client.runs.stream(
            thread["thread_id"],
            "paced",
            input={"delay": 0.5},
            stream_mode=["custom", "values"],
        ):
            parts.append((part.event, part.data, part.id))
            if part.event == "custom" and cut_at is None:
                cut_at = proxy.connections
                proxy.cut()  # right after the first custom chunk
        run_id = parts[0][1]["run_id"]
        replay = client.runs.join_stream(thread["thread_id"], run_id, last_event_id="0")
        everything = [(p.event, p.data, p.id) for p in replay]
    finally:
        client.http.client.close()
        proxy.close()
    assert cut_at is not None and proxy.connections > cut_at, "the SDK reconnected"
    assert parts == everything
    assert [event for event, _, _ in parts].count("custom") == 3


def _metric(stack, name: str) -> float:
    """A sample of daphne's Prometheus metrics (0 when absent)."""
    text = httpx.get(f"{stack.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


NATS_EVENTS = 'duragraph_stream_events_total{source="nats"}'
#: Streams subscribed and caught up (runs.live): the readiness of a live-only stream.
STREAMS_LIVE = "duragraph_streams_live"
POSTGRES_EVENTS = 'duragraph_stream_events_total{source="postgres"}'


def test_nats_stopped_mid_run_every_event_still_arrives(stack_with_own_nats):
    """NATS goes away mid-stream: the stream goes on from PostgreSQL without a gap or a
    duplicate, and live streams use NATS again once it is back."""
    stack, nats = stack_with_own_nats
    assert wait_for(
        lambda: _stream_once(stack) and _metric(stack, NATS_EVENTS) > 0,
        timeout=20,
        what="events to reach streams through NATS",
    )
    from_postgres = _metric(stack, POSTGRES_EVENTS)
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        thread = http.post("/threads", json={}).json()
        body = {
            "assistant_id": "paced",
            "input": {"delay": 1.0},
            "stream_mode": ["values", "updates", "custom"],
        }
        lines: list[str] = []
        with http.stream("POST", f"/threads/{thread['thread_id']}/runs/stream", json=body) as r:
            location = r.headers["location"]
            for line in r.iter_lines():
                lines.append(line)
                if line == "event: custom" and lines.count(line) == 1:
                    nats.stop()  # mid-run, between two chunks
        served = [f for f in _frames(lines) if "event" in f]
        full = http.get(location, headers={"Last-Event-ID": "0"})
        everything = [f for f in _frames(full.text.splitlines()) if "event" in f]
    assert served == everything
    assert [f["event"] for f in served].count("custom") == 3
    assert _metric(stack, POSTGRES_EVENTS) > from_postgres + 3, "served from PostgreSQL"

    nats.start()  # same port, same store
    through_nats = _metric(stack, NATS_EVENTS)
    wait_for(
        lambda: _stream_once(stack) and _metric(stack, NATS_EVENTS) > through_nats,
        timeout=30,
        interval=0.5,
        what="streams to use NATS again once it is back",
    )


def _stream_once(stack) -> bool:
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        body = {"assistant_id": "writer", "input": {"items": []}, "stream_mode": ["custom"]}
        response = http.post("/runs/stream", json=body)
        return response.status_code == 200


def test_on_disconnect_cancel_cancels_the_run(stack):
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()
        body = {
            "assistant_id": "paced",
            "input": {"delay": 1.0},
            "stream_mode": ["custom"],
            "on_disconnect": "cancel",
        }
        with http.stream(
            "POST", f"/threads/{thread['thread_id']}/runs/stream", json=body
        ) as response:
            for line in response.iter_lines():
                if line.startswith("event: metadata"):
                    break
        [run] = http.get(f"/threads/{thread['thread_id']}/runs").json()
        wait_for(
            lambda: (
                http.get(f"/threads/{thread['thread_id']}/runs/{run['run_id']}").json()["status"]
                == "interrupted"
            ),
            timeout=20,
            what="the run to be cancelled when its client went away",
        )


def test_thread_stream_relays_each_run_then_run_done(stack, client):
    thread = client.threads.create()
    seen: list = []

    def follow() -> None:
        local = get_sync_client(url=stack.url, api_key=None)
        try:
            for part in local.threads.join_stream(thread["thread_id"]):
                seen.append(part)
                if sum(1 for p in seen if p.event == "metadata" and "status" in p.data) == 2:
                    return
        finally:
            local.http.client.close()

    live_before = _metric(stack, STREAMS_LIVE)
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    # The thread stream is live-only: the runs start once it subscribed and caught up.
    wait_for(
        lambda: _metric(stack, STREAMS_LIVE) > live_before,
        timeout=20,
        what="the thread stream to be live",
    )
    for _ in range(2):
        client.runs.wait(thread["thread_id"], "writer", input={"items": []})
    follower.join(30)
    assert not follower.is_alive()
    events = [p.event for p in seen]
    assert events == ["metadata", "values", "values", "values", "metadata"] * 2
    assert seen[4].data == {"status": "run_done", "run_id": seen[0].data["run_id"]}
    ids = [int(p.id.split(".")[0]) for p in seen]
    assert ids == sorted(ids)
    # Resuming after the first run's end replays exactly the second run.
    resumed = []
    local = get_sync_client(url=stack.url, api_key=None)
    try:
        for part in local.threads.join_stream(thread["thread_id"], last_event_id=seen[4].id):
            resumed.append(part)
            if part.event == "metadata" and "status" in part.data:
                break
    finally:
        local.http.client.close()
    assert [(p.event, p.data, p.id) for p in resumed] == [(p.event, p.data, p.id) for p in seen[5:]]


def test_executor_alive(stack):
    assert stack.executor.alive()


def test_open_streams_are_counted_and_heartbeats_keep_them_alive(stack):
    """``duragraph_sse_streams_open`` counts open streams; an idle one gets ``: heartbeat``."""
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()
        before = _metric(stack, "duragraph_sse_streams_open")
        with http.stream("GET", f"/threads/{thread['thread_id']}/stream") as response:
            lines = response.iter_lines()
            assert next(lines) == ": heartbeat", "nothing happens on the thread: a keep-alive"
            assert _metric(stack, "duragraph_sse_streams_open") == before + 1
        wait_for(
            lambda: _metric(stack, "duragraph_sse_streams_open") == before,
            timeout=10,
            what="the stream to be counted out once the client left",
        )
