"""The dashboard's WebSockets, browser-free: a ``websockets`` client against daphne receives a
run's events live, the same frames (event, data, id) as the SSE stream."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.e2e.processes import start_live_stack, stop_live_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(server_env, system_assistants, nats_url, tmp_path_factory):
    live = start_live_stack(server_env, nats_url, tmp_path_factory.mktemp("websocket-logs"))
    yield live
    stop_live_stack(live)


def _sse_frames(text: str) -> list[dict]:
    frames, current = [], {}
    for line in text.splitlines():
        if not line:
            if current:
                frames.append(current)
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = json.loads(value) if key == "data" else value
    return frames


async def _receive_all(url: str, timeout: float = 30) -> tuple[list[dict], int | None]:
    """Every message until the server closes; and the close code."""
    messages = []
    async with websockets.connect(url, open_timeout=10) as socket:
        try:
            async with asyncio.timeout(timeout):
                async for message in socket:
                    messages.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass
        code = socket.close_code
    return messages, code


async def _streams_live(http: httpx.AsyncClient) -> float:
    """``duragraph_streams_live``: streams subscribed and caught up (their readiness)."""
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith("duragraph_streams_live "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _one_run_through_thread_socket(
    http: httpx.AsyncClient, url: str, thread_id: str, origin: str | None = None
) -> list[dict]:
    """Opens the thread socket at *url*, runs ``writer`` on the thread, and returns what the
    socket pushed up to that run's ``run_done``."""
    received: list[dict] = []
    live_before = await _streams_live(http)
    async with websockets.connect(url, origin=origin, open_timeout=10) as socket:
        async with asyncio.timeout(20):  # live only: the run starts once the stream is live
            while await _streams_live(http) <= live_before:
                await asyncio.sleep(0.05)
        await http.post(
            f"/threads/{thread_id}/runs/wait",
            json={"assistant_id": "writer", "input": {"items": []}},
        )
        async with asyncio.timeout(20):
            async for message in socket:
                received.append(json.loads(message))
                if received[-1]["data"].get("status") == "run_done":
                    return received
    return received


def test_run_socket_pushes_the_run_events_live(stack):
    ws_url = stack.url.replace("http://", "ws://")

    async def go() -> tuple[list[dict], int | None, dict]:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
            thread = (await http.post("/threads", json={})).json()
            run = (
                await http.post(
                    f"/threads/{thread['thread_id']}/runs",
                    json={
                        "assistant_id": "paced",
                        "input": {"delay": 0.3},
                        "stream_mode": ["values", "custom"],
                    },
                )
            ).json()
            # Connected while the run is pending or running: what arrives is live.
            messages, code = await _receive_all(f"{ws_url}/ws/runs/{run['run_id']}")
            sse = await http.get(
                f"/threads/{thread['thread_id']}/runs/{run['run_id']}/stream",
                headers={"Last-Event-ID": "0"},
            )
            return messages, code, {"sse": _sse_frames(sse.text), "run": run}

    messages, code, other = asyncio.run(go())
    assert code == 1000, "closed normally once the run ended"
    assert [m["event"] for m in messages] == [
        "metadata",
        "values",
        "custom",
        "values",
        "custom",
        "values",
        "custom",
        "values",
    ]
    assert messages[0]["data"] == {"run_id": other["run"]["run_id"], "attempt": 1}
    assert messages[-1]["data"] == {"delay": 0.3, "done": [1, 2, 3]}
    assert messages == other["sse"], "the same frames as SSE: event, data and id"


def test_thread_socket_follows_runs_and_unknown_ids_are_refused(stack):
    ws_url = stack.url.replace("http://", "ws://")

    async def go() -> tuple[list[dict], list[dict], int | None]:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
            thread = (await http.post("/threads", json={})).json()
            received = await _one_run_through_thread_socket(
                http, f"{ws_url}/ws/threads/{thread['thread_id']}", thread["thread_id"]
            )
            refused, code = await _receive_all(f"{ws_url}/ws/runs/{thread['thread_id']}")
            return received, refused, code

    received, refused, code = asyncio.run(go())
    assert [m["event"] for m in received] == ["metadata", "values", "values", "values", "metadata"]
    assert received[-1]["data"]["status"] == "run_done"
    assert code == 4404 and refused[0]["event"] == "error"


def test_sockets_from_another_sites_pages_are_refused(stack):
    """Browsers send the page's origin and no CORS applies to WebSockets: a page elsewhere must
    not be able to read runs (cross-site WebSocket hijacking). The server's own pages can."""
    ws_url = stack.url.replace("http://", "ws://")
    own_origin = stack.url  # http://127.0.0.1:<port>, what the browser sends for our pages

    async def go() -> tuple[int, list[dict]]:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
            thread = (await http.post("/threads", json={})).json()
            url = f"{ws_url}/ws/threads/{thread['thread_id']}"
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url, origin="http://evil.example", open_timeout=10):
                    pass
            received = await _one_run_through_thread_socket(
                http, url, thread["thread_id"], origin=own_origin
            )
            return refused.value.response.status_code, received

    status, received = asyncio.run(go())
    assert status == 403
    assert received[0]["event"] == "metadata" and received[-1]["data"]["status"] == "run_done"
