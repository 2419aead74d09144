"""The WebSockets with authentication on, against a real daphne and a plain ``websockets``
client: a handshake without a credential, with an unknown, revoked or worker-only key is
refused before it completes (HTTP 403, nothing streamed); an API key (``x-api-key`` or
``Authorization: Bearer``) or an admin session cookie gets the socket (accounts.websockets)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.processes import Process, start_api_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(server_env, e2e_database, tmp_path_factory) -> Iterator[tuple[Process, str]]:
    """daphne with authentication on; keys are checked on every handshake (no cache), so a
    revocation shows at once."""
    env = {**server_env, "AUTH_ENABLED": "true", "API_KEY_CACHE_SECONDS": "0"}
    process, url = start_api_server("ws-auth", env, tmp_path_factory.mktemp("ws-auth"))
    yield process, url
    process.stop()


@pytest.fixture(scope="module")
def keys(django_db_blocker) -> dict[str, str]:
    from accounts import services

    with django_db_blocker.unblock():
        _, api = services.create_api_key(name="ws api", tenant="acme")
        revoked, revoked_plain = services.create_api_key(name="ws revoked", tenant="acme")
        _, worker = services.create_api_key(name="ws worker", scopes=["worker"], all_tenants=True)
    return {
        "api": api,
        "revoked": revoked_plain,
        "revoked_prefix": revoked.prefix,
        "worker": worker,
    }


def handshake(url: str, headers: dict[str, str] | None = None) -> int:
    """101 when the socket opened (then closed by us), else the HTTP status it was refused with."""

    async def go() -> int:
        try:
            async with websockets.connect(url, additional_headers=headers, open_timeout=10):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(go())


async def first_message_and_close(url: str, headers: dict[str, str]) -> tuple[dict, int | None]:
    async with websockets.connect(url, additional_headers=headers, open_timeout=10) as socket:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
        return message, socket.close_code


def test_a_handshake_without_a_valid_credential_is_refused(server, keys):
    process, url = server
    ws = url.replace("http://", "ws://")
    socket = f"{ws}/ws/threads/{uuid.uuid4()}"

    assert handshake(socket) == 403
    assert handshake(socket, {"x-api-key": "dg_000000000000_not-a-key"}) == 403
    assert handshake(socket, {"Authorization": "Bearer nonsense"}) == 403
    assert handshake(socket, {"Authorization": "Basic !!!"}) == 403  # malformed
    # A worker key may serve runs, not read their streams.
    assert handshake(socket, {"x-api-key": keys["worker"]}) == 403
    assert "WebSocket /ws/threads/" in process.output()  # the log says why


def test_a_valid_key_opens_the_socket_until_it_is_revoked(server, keys, django_db_blocker):
    _, url = server
    ws = url.replace("http://", "ws://")
    with httpx.Client(base_url=url, headers={"x-api-key": keys["api"]}, timeout=30) as http:
        thread = http.post("/threads", json={})
        assert thread.status_code == 200, thread.text
    thread_socket = f"{ws}/ws/threads/{thread.json()['thread_id']}"

    assert handshake(thread_socket, {"x-api-key": keys["api"]}) == 101
    assert handshake(thread_socket, {"Authorization": f"Bearer {keys['api']}"}) == 101
    # Past the gate, the consumer answers: an unknown run is closed with its own 4404.
    message, code = asyncio.run(
        first_message_and_close(f"{ws}/ws/runs/{uuid.uuid4()}", {"x-api-key": keys["api"]})
    )
    assert (message, code) == ({"event": "error", "data": "not found"}, 4404)

    assert handshake(thread_socket, {"x-api-key": keys["revoked"]}) == 101
    from accounts import services

    with django_db_blocker.unblock():
        services.revoke_api_key(keys["revoked_prefix"])
    assert handshake(thread_socket, {"x-api-key": keys["revoked"]}) == 403


def test_an_admin_session_opens_the_socket(server, django_db_blocker):
    """A browser page cannot add headers to a WebSocket: it sends the session cookie."""
    from django.contrib.auth import get_user_model

    _, url = server
    password = uuid.uuid4().hex
    username = f"ws-{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        get_user_model().objects.create_user(username, password=password, is_staff=True)
    with httpx.Client(base_url=url, timeout=10) as browser:
        page = browser.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        login = browser.post(
            "/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": token, "username": username, "password": password},
            headers={"Referer": f"{url}/admin/login/"},
        )
        assert login.status_code == 302, login.text[:500]
        session = browser.cookies["sessionid"]
    ws = url.replace("http://", "ws://")
    socket = f"{ws}/ws/runs/{uuid.uuid4()}"
    assert handshake(socket, {"Cookie": f"sessionid={session}", "Origin": url}) == 101
    assert handshake(socket, {"Cookie": "sessionid=forged", "Origin": url}) == 403
