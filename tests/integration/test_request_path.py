"""The two HTTP request paths: API requests skip the browser middleware, admin keeps it.

Requests go through ``duragraph_site.asgi.application`` as daphne would send them, so the
routing, ``APIHandler`` and both middleware chains are what runs. These tests commit
(``transaction=True``): an API view runs on its own pool thread, with its own connection.
"""

from __future__ import annotations

import asyncio
import re
import threading
from http.cookies import SimpleCookie
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from asgiref.sync import SyncToAsync
from asgiref.testing import ApplicationCommunicator
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import signals
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.test import override_settings
from django.urls import path
from prometheus_client.parser import text_string_to_metric_families

from duragraph_site.asgi import api_app, application
from duragraph_site.handlers import APIHandler, is_browser_path
from tests.asgi import http_scope

pytestmark = pytest.mark.django_db(transaction=True)


# -- views for the paths Django's own handler would take (ROOT_URLCONF=__name__) --------------
failing_view_connections: list[Any] = []


def failing_view(request: HttpRequest) -> JsonResponse:
    connection.ensure_connection()  # holds a connection when it fails
    failing_view_connections.append(connections["default"])
    raise RuntimeError("boom")


async def async_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"async": True})


def streaming_view(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks():
        for part in (b"one,", b"two"):
            yield part

    return StreamingHttpResponse(chunks(), content_type="text/plain")


urlpatterns = [
    path("boom", failing_view),
    path("async", async_view),
    path("stream", streaming_view),
]


class Response:
    def __init__(self, message: dict[str, Any]) -> None:
        self.status: int = message["status"]
        self.body: bytes = message["body"]
        self.headers: list[tuple[str, str]] = [
            (name.decode().lower(), value.decode()) for name, value in message["headers"]
        ]

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name.lower()), None)

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for key, value in self.headers:
            if key == "set-cookie":
                jar.load(value)
        return {name: morsel.value for name, morsel in jar.items()}


def request(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query: str = "",
) -> Response:
    """One HTTP request through the ASGI application, waited for until the handler is done."""

    async def go() -> Response:
        scope = http_scope(method, path, headers=headers, query=query)
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": body})
        start = await communicator.receive_output(10)
        chunks = [start]
        while True:
            chunk = await communicator.receive_output(10)
            chunks.append(chunk)
            if not chunk.get("more_body"):
                break
        # The handler closes the response (request_finished) after the last byte.
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)
        return Response({**start, "body": b"".join(c.get("body", b"") for c in chunks[1:])})

    return asyncio.run(go())


@pytest.fixture
def middleware_calls():
    """Spies on the session and CSRF middleware: which paths they saw."""
    seen: dict[str, list[str]] = {"session": [], "csrf": []}
    session_original = SessionMiddleware.process_request
    csrf_original = CsrfViewMiddleware.process_request

    def session_spy(self, request):
        seen["session"].append(request.path)
        return session_original(self, request)

    def csrf_spy(self, request):
        seen["csrf"].append(request.path)
        return csrf_original(self, request)

    with (
        mock.patch.object(SessionMiddleware, "process_request", session_spy),
        mock.patch.object(CsrfViewMiddleware, "process_request", csrf_spy),
    ):
        yield seen


def test_api_requests_skip_session_and_csrf_middleware(middleware_calls):
    created = request("POST", "/threads", body=b"{}", headers={"content-type": "application/json"})
    assert created.status == 200
    thread_id = created.body.decode().split('"thread_id":"')[1].split('"')[0]
    assert request("GET", f"/threads/{thread_id}").status == 200
    assert request("GET", f"/api/v1/threads/{thread_id}").status == 200
    assert request("GET", "/ok").status == 200

    assert middleware_calls == {"session": [], "csrf": []}
    # Nor the other browser middleware: no clickjacking header, no Vary: Cookie.
    assert created.header("x-frame-options") is None
    assert "Cookie" not in (created.header("vary") or "")


def test_admin_keeps_sessions_and_csrf(middleware_calls, django_user_model):
    django_user_model.objects.create_superuser("root", email="", password="s3cret-pass")

    login_page = request("GET", "/admin/login/")
    assert login_page.status == 200
    assert login_page.header("x-frame-options") == "DENY"
    csrf_cookie = login_page.cookies()["csrftoken"]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.body)
    assert token is not None

    form = {"username": "root", "password": "s3cret-pass", "next": "/admin/"}
    form_headers = {"content-type": "application/x-www-form-urlencoded"}
    refused = request("POST", "/admin/login/", body=urlencode(form).encode(), headers=form_headers)
    assert refused.status == 403  # no CSRF token

    logged_in = request(
        "POST",
        "/admin/login/",
        body=urlencode({**form, "csrfmiddlewaretoken": token.group(1).decode()}).encode(),
        headers={**form_headers, "cookie": f"csrftoken={csrf_cookie}"},
    )
    assert logged_in.status == 302, logged_in.body[:500]
    session = logged_in.cookies()["sessionid"]

    index = request("GET", "/admin/", headers={"cookie": f"sessionid={session}"})
    assert index.status == 200
    assert b"Site administration" in index.body
    assert "/admin/" in middleware_calls["session"]
    assert "/admin/login/" in middleware_calls["csrf"]


def test_request_id_is_echoed_or_generated():
    echoed = request("GET", "/ok", headers={"x-request-id": "req-42"})
    assert echoed.header("x-request-id") == "req-42"
    generated = request("GET", "/ok").header("x-request-id")
    assert generated and re.fullmatch(r"[0-9a-f]{32}", generated)
    assert request("GET", "/admin/login/", headers={"x-request-id": "req-43"}).header(
        "x-request-id"
    ) == ("req-43")


def _sample(metrics: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_count_api_requests():
    by_view = "django_http_responses_total_by_status_view_method_total"
    before = request("GET", "/metrics").body.decode()
    for _ in range(3):
        assert request("GET", "/ok").status == 200
    assert request("GET", "/threads/00000000-0000-0000-0000-000000000000").status == 404
    after = request("GET", "/metrics").body.decode()

    def delta(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert delta(by_view, status="200", view="ok", method="GET") == 3
    assert delta(by_view, status="404", view="threads.api.views.ThreadDetailApi", method="GET") == 1
    # Counted on the way in: the three /ok, the 404, and the second /metrics request itself.
    assert delta("django_http_requests_before_middlewares_total") == 5
    assert delta("django_http_requests_total_by_method_total", method="GET") == 5
    assert (
        delta("django_http_requests_latency_seconds_by_view_method_count", view="ok", method="GET")
        == 3
    )


def test_a_sync_api_view_costs_one_thread_hop():
    thread_id = request(
        "POST", "/threads", body=b"{}", headers={"content-type": "application/json"}
    ).body.decode()
    thread_id = thread_id.split('"thread_id":"')[1].split('"')[0]
    calls = []
    original = SyncToAsync.__call__

    async def counting(self, *args, **kwargs):
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    with mock.patch.object(SyncToAsync, "__call__", counting):
        assert request("GET", f"/threads/{thread_id}").status == 200
        assert calls == ["APIHandler._respond"]
        calls.clear()
        assert request("GET", "/admin/login/").status == 200
        assert len(calls) > 10  # the browser path pays for its middleware, as before


def test_the_view_thread_returns_its_connection_before_responding():
    seen: list[tuple[str, bool]] = []

    def after_close_old_connections(**kwargs: Any) -> None:
        # Connected after django.db's close_old_connections, so it runs after it.
        seen.append((threading.current_thread().name, connection.connection is None))

    signals.request_finished.connect(after_close_old_connections)
    try:
        response = request(
            "POST", "/threads", body=b"{}", headers={"content-type": "application/json"}
        )
        assert response.status == 200
    finally:
        signals.request_finished.disconnect(after_close_old_connections)
    assert len(seen) == 1
    thread_name, released = seen[0]
    assert thread_name.startswith("api-view") and released


@override_settings(ROOT_URLCONF=__name__)
def test_a_failing_view_is_a_500_and_releases_its_connection():
    failing_view_connections.clear()
    response = request("GET", "/boom", headers={"x-request-id": "req-500"})
    assert response.status == 500
    assert response.header("x-request-id") == "req-500"
    # The view's thread handed its connection back to the pool on the way out.
    [wrapper] = failing_view_connections
    assert wrapper.connection is None


@override_settings(ROOT_URLCONF=__name__)
def test_async_views_and_streaming_responses_take_djangos_path():
    started: list[str] = []

    def on_started(**kwargs: Any) -> None:
        started.append(kwargs["scope"]["path"])

    signals.request_started.connect(on_started)
    try:
        answered = request("GET", "/async", headers={"x-request-id": "req-async"})
        streamed = request("GET", "/stream")
    finally:
        signals.request_started.disconnect(on_started)
    assert (answered.status, answered.body) == (200, b'{"async": true}')
    assert answered.header("x-request-id") == "req-async"
    assert (streamed.status, streamed.body) == (200, b"one,two")
    assert streamed.header("content-length") is None  # streamed, not buffered
    assert started == ["/async", "/stream"]


def test_api_responses_have_content_length_and_security_headers():
    response = request("GET", "/ok")
    assert response.header("content-length") == str(len(response.body))
    assert response.header("x-content-type-options") == "nosniff"


@override_settings(ALLOWED_HOSTS=["api.example.com"])
def test_api_path_validates_the_host():
    assert request("GET", "/ok", headers={"host": "api.example.com"}).status == 200
    assert request("GET", "/ok", headers={"host": "evil.example.com"}).status == 400


@pytest.mark.parametrize(
    "middleware",
    [
        "django.contrib.sessions.middleware.SessionMiddleware",  # MiddlewareMixin: hops threads
        "django.middleware.common.CommonMiddleware",
    ],
)
def test_api_handler_refuses_middleware_that_hops_threads(middleware):
    with (
        override_settings(API_MIDDLEWARE=[middleware]),
        pytest.raises(ImproperlyConfigured, match="thread hop"),
    ):
        APIHandler()


def test_api_handler_builds_from_the_settings():
    assert APIHandler()._middleware_chain is not None
    assert api_app._async_hooks is False  # every hook of API_MIDDLEWARE runs on the view's thread


@pytest.mark.parametrize(
    ("path", "browser"),
    [
        ("/", True),
        ("/admin/", True),
        ("/admin", True),
        ("/admin/login/", True),
        ("/static/admin/css/base.css", True),
        ("/docs", True),
        ("/dashboard/runs", True),
        ("/ok", False),
        ("/threads", False),
        ("/threads/abc/runs", False),
        ("/api/v1/threads", False),
        ("/metrics", False),
        ("/openapi.json", False),
        ("/administrators", False),
    ],
)
def test_routing(path, browser):
    assert is_browser_path(path) is browser
