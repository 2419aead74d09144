"""DNS rebinding and cross-origin pages, against a real daphne: a request naming a foreign
``Host`` and a WebSocket whose ``Host`` and ``Origin`` are both ``evil.example`` (a page on a
name the attacker rebound to this server) are refused, with the default configuration
(loopback only) and with a production one; pages on configured origins get CORS headers and
their sockets, others get neither. (``manage.py dev``: tests/e2e/test_dev_stack.py.)"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from duragraph_site.embedded import free_port
from tests.e2e.processes import Process, start, start_api_server, wait_for

pytestmark = pytest.mark.e2e

STUDIO = "https://smith.langchain.com"
PUBLIC = "api.example.com"
EVIL = "evil.example"
EXPOSED = {
    "Location",
    "Content-Location",
    "X-Request-ID",
    "X-Pagination-Total",
    "X-Pagination-Next",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
}


def websocket_status(base: str, *, host: str, origin: str | None) -> int:
    """The HTTP status daphne answers a WebSocket handshake with (101: accepted), sent raw so
    that ``Host`` is exactly what a rebinding page's browser would send."""
    address = base.removeprefix("http://")
    name, _, port = address.rpartition(":")
    lines = [
        f"GET /ws/threads/{uuid.uuid4()} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *([f"Origin: {origin}"] if origin is not None else []),
    ]
    with socket.create_connection((name, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def assert_refuses_a_rebound_name(base: str) -> None:
    """What a page on ``http://evil.example`` (resolving to this server) can do: nothing."""
    answer = httpx.get(f"{base}/ok", headers={"Host": EVIL})
    assert answer.status_code == 400 and "detail" in answer.json()
    answer = httpx.post(f"{base}/threads", json={}, headers={"Host": f"{EVIL}:80"})
    assert answer.status_code == 400 and "detail" in answer.json()
    assert httpx.get(f"{base}/admin/login/", headers={"Host": EVIL}).status_code == 400
    assert websocket_status(base, host=EVIL, origin=f"http://{EVIL}") == 403


@dataclass
class Server:
    url: str
    process: Process


@pytest.fixture(scope="module")
def default_server(server_env, e2e_database, tmp_path_factory) -> Iterator[Server]:
    """Nothing configured: ``ALLOWED_HOSTS`` and the origins unset."""
    env = {
        k: v
        for k, v in server_env.items()
        if not k.startswith("CORS_") and k not in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DEBUG")
    }
    process, url = start_api_server("default", env, tmp_path_factory.mktemp("default-server"))
    try:
        yield Server(url, process)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def production_server(server_env, e2e_database, tmp_path_factory) -> Iterator[Server]:
    """As documented for production: its public name, its dashboard's origin, Studio's."""
    env = {
        **server_env,
        "DEBUG": "false",
        "ALLOWED_HOSTS": PUBLIC,
        "CSRF_TRUSTED_ORIGINS": f"https://{PUBLIC}",
        "CORS_ALLOWED_ORIGINS": STUDIO,
    }
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "duragraph_site.asgi:application"]  # fmt: skip
    process = start("production", argv, env, tmp_path_factory.mktemp("production-server"))
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.alive(), process.output()[-3000:]
        try:
            return httpx.get(f"{url}/ok", headers={"Host": PUBLIC}, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, timeout=30, what="the production server to answer")
    try:
        yield Server(url, process)
    finally:
        process.stop()


def test_default_configuration_answers_loopback_names_only(default_server):
    base = default_server.url
    port = base.rpartition(":")[2]
    assert_refuses_a_rebound_name(base)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert httpx.get(f"{base}/ok", headers={"Host": host}).status_code == 200, host
    # The origin is judged by configuration, not by the Host it came with.
    assert websocket_status(base, host=f"127.0.0.1:{port}", origin=f"http://{EVIL}") == 403
    assert websocket_status(base, host=f"127.0.0.1:{port}", origin=f"http://{EVIL}:{port}") == 403
    # The server's own pages (bound to loopback) and clients that are not browsers.
    for origin in (base, f"http://localhost:{port}", None):
        assert websocket_status(base, host=f"127.0.0.1:{port}", origin=origin) == 101, origin
    # No CORS unless configured.
    preflight = httpx.options(
        f"{base}/threads",
        headers={"Origin": STUDIO, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200 and "access-control-allow-origin" not in preflight.headers


def test_production_configuration_answers_its_public_name_only(production_server):
    base = production_server.url
    port = base.rpartition(":")[2]
    assert_refuses_a_rebound_name(base)
    assert httpx.get(f"{base}/ok", headers={"Host": f"127.0.0.1:{port}"}).status_code == 400
    assert httpx.get(f"{base}/ok", headers={"Host": PUBLIC}).status_code == 200
    # Its dashboard's origin and Studio's may open sockets; a rebound page may not.
    assert websocket_status(base, host=PUBLIC, origin=f"https://{PUBLIC}") == 101
    assert websocket_status(base, host=PUBLIC, origin=STUDIO) == 101
    assert websocket_status(base, host=PUBLIC, origin=f"http://{PUBLIC}") == 403  # scheme
    assert websocket_status(base, host=PUBLIC, origin=f"https://{EVIL}") == 403
    assert websocket_status(base, host=EVIL, origin=f"https://{PUBLIC}") == 403


def test_cors_from_an_allowed_origin(production_server):
    base = production_server.url
    with httpx.Client(base_url=base, headers={"Host": PUBLIC}, timeout=30) as http:
        preflight = http.options(
            "/threads",
            headers={
                "Origin": STUDIO,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key, content-type",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == STUDIO
        assert "x-api-key" in preflight.headers["access-control-allow-headers"]
        assert "access-control-allow-credentials" not in preflight.headers

        created = http.post("/threads", json={}, headers={"Origin": STUDIO})
        assert created.status_code == 200
        assert created.headers["access-control-allow-origin"] == STUDIO
        exposed = {h.strip() for h in created.headers["access-control-expose-headers"].split(",")}
        assert exposed >= EXPOSED

        for origin in (f"https://{EVIL}", "http://smith.langchain.com"):
            refused = http.options(
                "/threads", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
            )
            answered = http.get("/ok", headers={"Origin": origin})
            for response in (refused, answered):
                assert "access-control-allow-origin" not in response.headers
                assert "access-control-expose-headers" not in response.headers
