"""``langgraph.json``'s ``http.mount_prefix`` on a real daphne: the official SDK pointed at
``<server>/lg`` works as at the root (create, stream, wait), the pages' links and assets carry
the prefix, the probes answer at the root too, and nothing else is served outside it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from langgraph_sdk import get_sync_client
from websockets.exceptions import InvalidStatus

from tests.e2e.processes import start_api_server, start_executor

pytestmark = pytest.mark.e2e


def test_the_whole_api_is_served_under_the_prefix(server_env, system_assistants, tmp_path):
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "http": {"mount_prefix": "/lg/"}}))
    env = {**server_env, "DURAGRAPH_CONFIG": str(config)}
    executor = start_executor(env, tmp_path, name="mounted")
    process, url = start_api_server("daphne-mounted", env, tmp_path)
    try:
        with get_sync_client(url=f"{url}/lg", api_key=None) as client:
            thread = client.threads.create()
            chunks = list(client.runs.stream(thread["thread_id"], "simple", input={"items": ["x"]}))
            assert chunks[-1].data == {"items": ["x", "a", "b"]}
            state = client.runs.wait(thread["thread_id"], "simple", input={"items": ["y"]})
            assert state["items"] == ["x", "a", "b", "y", "a", "b"]
            assert client.threads.get(thread["thread_id"])["status"] == "idle"

        with httpx.Client(base_url=url, timeout=30) as http:
            # As LangGraph's: the locations are relative to the URL the client was given (the
            # SDK appends them to it, as the stream above did to read its run).
            created = http.post("/lg/runs", json={"assistant_id": "simple", "input": {}})
            assert created.headers["Content-Location"].startswith("/runs/")
            streamed = http.post(
                f"/lg/api/v1/threads/{thread['thread_id']}/runs/stream",
                json={"assistant_id": "simple", "input": {"items": []}},
            )
            assert streamed.headers["Location"].startswith(
                f"/api/v1/threads/{thread['thread_id']}/runs/"
            )
            for probe in ("/ok", "/health", "/lg/ok"):
                assert http.get(probe).status_code == 200, probe
            assert http.get("/metrics").status_code == 200
            outside = http.post("/threads", json={})
            assert outside.status_code == 404 and outside.json() == {"detail": "Not Found"}
            assert http.get("/lg/openapi.json").json()["servers"] == [{"url": "/lg"}]
            docs = http.get("/lg/docs")
            assert docs.status_code == 200 and "/lg/openapi.json" in docs.text
            sign_in = http.get("/lg/dashboard/", follow_redirects=True)
            assert sign_in.status_code == 200, "the sign-in page, under the prefix too"
            assert sign_in.url.path == "/lg/" and sign_in.url.params["next"] == "/lg/dashboard/"
            assert 'href="/lg/static/' in sign_in.text, "its assets under the prefix"
            css = sign_in.text.split('href="/lg/static/', 1)[1].split('"', 1)[0]
            assert http.get(f"/lg/static/{css}").status_code == 200
            assert '<meta name="dg-root" content="/lg">' in sign_in.text, "its sockets' root"
        ws = url.replace("http://", "ws://")
        assert handshake(f"{ws}/lg/ws/activity") == 101
        assert handshake(f"{ws}/ws/activity") == 403
    finally:
        process.stop()
        executor.stop()


def handshake(url: str) -> int:
    """101 when the socket opened (then closed by us), else the HTTP status it was refused with."""

    async def go() -> int:
        try:
            async with websockets.connect(url, open_timeout=10):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(go())
