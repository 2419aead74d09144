"""Request bodies through the real daphne, whatever their framing: read whole, or refused whole.

A body sent with ``Transfer-Encoding: chunked`` (no ``Content-Length``; httpx does that for an
iterator body) must be stored exactly as one with a ``Content-Length``; a body over
``MAX_REQUEST_BYTES`` must be a 413 ``{"detail"}`` that writes nothing, however it is framed.
The limit tests run on a second daphne with a small limit, so they send kilobytes, not 10 MiB.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from tests.e2e.processes import start_api_server

pytestmark = pytest.mark.e2e

#: The limit of the small-limit server.
LIMIT = 4096


def chunked(body: bytes, size: int = 100) -> Iterator[bytes]:
    """*body* in pieces: httpx sends an iterator with ``Transfer-Encoding: chunked``."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"detail": f"Request body exceeds the limit of {LIMIT} bytes."}


@pytest.fixture(scope="module")
def http(api_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def small_limit(api_server, tmp_path_factory) -> Iterator[str]:
    """A second daphne, same database, with ``MAX_REQUEST_BYTES`` = :data:`LIMIT`."""
    process, url = start_api_server(
        "small-limit-daphne",
        {**api_server.env, "MAX_REQUEST_BYTES": str(LIMIT)},
        tmp_path_factory.mktemp("small-limit"),
    )
    try:
        yield url
    finally:
        process.stop()


@pytest.fixture
def small(small_limit) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small_limit, timeout=30) as client:
        yield client


def test_a_chunked_body_is_stored(http):
    metadata = {"framing": "chunked", "text": "é" * 500, "n": [1, 2, 3]}
    body = json.dumps({"metadata": metadata}).encode()
    request = http.build_request(
        "POST", "/threads", content=chunked(body), headers={"Content-Type": "application/json"}
    )
    assert request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in request.headers

    created = http.send(request)
    assert created.status_code == 200, created.text
    assert created.json()["metadata"] == metadata
    stored = http.get(f"/threads/{created.json()['thread_id']}")
    assert stored.json()["metadata"] == metadata


def test_a_chunked_body_is_validated_like_any_other(http, event_count):
    before = event_count()
    response = http.post(
        "/threads",
        content=chunked(b'{"metadata": [1]}', size=3),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "metadata" in response.json()["detail"]
    assert event_count() == before


def test_a_chunked_body_over_the_limit_is_413_and_writes_nothing(small, event_count):
    body = json.dumps({"metadata": {"blob": "x" * LIMIT}}).encode()
    before = event_count()
    response = small.post(
        "/threads", content=chunked(body, size=1000), headers={"Content-Type": "application/json"}
    )
    assert_too_large(response)
    assert event_count() == before


def test_a_content_length_body_over_the_limit_is_413_and_writes_nothing(small, event_count):
    body = json.dumps({"metadata": {"blob": "x" * LIMIT}}).encode()
    before = event_count()
    response = small.post("/threads", content=body, headers={"Content-Type": "application/json"})
    assert response.request.headers["content-length"] == str(len(body))
    assert_too_large(response)
    assert event_count() == before


def test_a_body_at_the_limit_is_read_whole(small):
    """The limit is inclusive, and a body just under it is not cut: both framings."""
    prefix, suffix = b'{"metadata": {"blob": "', b'"}}'
    body = prefix + b"y" * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(body) == LIMIT
    for content in (body, chunked(body, size=1000)):
        response = small.post(
            "/threads", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.text[:300]
        assert len(response.json()["metadata"]["blob"]) == LIMIT - len(prefix) - len(suffix)


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(small_limit):
    """A declared ``Content-Length`` over the limit is refused from the headers alone.

    daphne (Twisted) only hands a request to the application once its body has arrived, so the
    body is sent whole; the application then answers without reading it.
    """
    parts = urlsplit(small_limit)
    body = b"z" * (LIMIT + 1)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /store/items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert json.loads(payload) == {"detail": f"Request body exceeds the limit of {LIMIT} bytes."}


def test_browser_paths_read_chunked_bodies_and_keep_the_limit(small):
    """The admin's handler reads bodies the same way. The CSRF token travels in the chunked form
    only, so the login page can only answer "wrong password" (200), not 403, if Django parsed
    the form; an oversized one is a 413 (Django's own, not JSON: a browser path)."""
    page = small.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token is not None
    form = urlencode(
        {"csrfmiddlewaretoken": token.group(1), "username": "nobody", "password": "wrong"}
    ).encode()
    answered = small.post(
        "/admin/login/",
        content=chunked(form, size=16),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": small_base(small)},
    )
    assert answered.status_code == 200, answered.text[:500]
    assert "Please enter the correct username and password" in answered.text

    too_big = small.post(
        "/admin/login/",
        content=chunked(b"a=" + b"x" * LIMIT, size=1000),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert too_big.status_code == 413
    assert not too_big.headers["content-type"].startswith("application/json")


def small_base(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/") + "/admin/login/"
