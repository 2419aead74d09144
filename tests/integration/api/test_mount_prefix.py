"""``http.mount_prefix`` at the ASGI level (``duragraph_site.mount_prefix.mounted_at``): what
reaches the site, with which ``root_path``; the probes at the root; the rest a JSON 404. The
whole site under a prefix, with real clients, is tests/e2e/test_mount_prefix.py."""

from __future__ import annotations

import asyncio

import pytest

from duragraph_site.mount_prefix import mounted_at


def call(scope: dict) -> tuple[list[dict], list[dict]]:
    """The site mounted at ``/lg`` called with *scope*; (the scopes that reached the site, the
    messages sent)."""
    reached, sent = [], []

    async def site(scope, receive, send):
        reached.append(scope)

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(mounted_at("/lg", site)(scope, receive, send))
    return reached, sent


def http(path: str, root_path: str = "") -> dict:
    return {"type": "http", "path": path, "root_path": root_path, "headers": []}


@pytest.mark.parametrize(
    ("path", "root_path", "site_root"),
    [
        ("/lg/threads", "", "/lg"),
        ("/lg", "", "/lg"),
        ("/lg/api/v1/assistants/search", "", "/lg"),
        ("/proxy/lg/threads", "/proxy", "/proxy/lg"),  # behind a server's own root_path
        ("/ok", "", ""),
        ("/health", "", ""),
        ("/metrics", "", ""),
    ],
)
def test_what_the_site_receives(path, root_path, site_root):
    reached, sent = call(http(path, root_path))
    assert sent == []
    assert [(s["path"], s["root_path"]) for s in reached] == [(path, site_root)]


@pytest.mark.parametrize("path", ["/threads", "/lgx/threads", "/", "/docs", "/api/v1/threads"])
def test_a_path_outside_the_prefix_is_a_json_404(path):
    reached, sent = call(http(path))
    assert reached == []
    assert sent[0]["status"] == 404
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"detail":"Not Found"}'


def test_a_websocket_outside_the_prefix_is_refused_and_one_inside_goes_through():
    reached, sent = call({"type": "websocket", "path": "/ws/activity", "headers": []})
    assert reached == [] and sent == [{"type": "websocket.close", "code": 1008}]
    reached, sent = call({"type": "websocket", "path": "/lg/ws/activity", "headers": []})
    assert [s["root_path"] for s in reached] == ["/lg"] and sent == []


def test_no_prefix_is_the_site_itself():
    async def site(scope, receive, send):
        pass

    assert mounted_at("", site) is site
