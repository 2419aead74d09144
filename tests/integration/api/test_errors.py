"""Errors nothing handled, through the real ASGI application: JSON on API paths, logged with the
request id; 503 with ``Retry-After`` when the database cannot be reached.

The views live in this module (``ROOT_URLCONF=__name__``), with the project's error views
(``duragraph_site.urls``' ``handler*``). The unreachable database is real: Django's PostgreSQL
backend, pooled and not, pointed at a port nothing listens on.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import orjson
import pytest
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from duragraph_site.embedded import free_port
from duragraph_site.logs import RequestIdFilter
from duragraph_site.urls import handler400, handler403, handler404, handler500  # noqa: F401
from tests.integration.test_request_path import request

pytestmark = pytest.mark.django_db

CLOSED_PORT = free_port()  # nothing listens on it


def _unreachable(alias: str, *, pooled: bool) -> object:
    """A connection to PostgreSQL on a port nothing listens on (the project's backend)."""
    options = {k: v for k, v in connection.settings_dict["OPTIONS"].items() if k != "pool"}
    if pooled:
        # As in production, but giving up quickly: the pool's PoolTimeout.
        options["pool"] = {"min_size": 1, "max_size": 1, "timeout": 0.5}
    settings = {
        **connection.settings_dict,
        "HOST": "127.0.0.1",
        "PORT": str(CLOSED_PORT),
        "EMBEDDED": False,
        "OPTIONS": options,
    }
    return type(connections["default"])(settings, alias=alias)


UNREACHABLE = {
    "pool": _unreachable("unreachable-pooled", pooled=True),
    "direct": _unreachable("unreachable-direct", pooled=False),
}


def query_unreachable(kind: str) -> None:
    with UNREACHABLE[kind].cursor() as cursor:
        cursor.execute("SELECT 1")


def broken_view(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("kaboom")


def offline_view(request: HttpRequest, kind: str) -> JsonResponse:
    query_unreachable(kind)
    return JsonResponse({"reached": True})


class BrokenApi(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("kaboom")


class OfflineApi(APIView):
    def get(self, request: Request, kind: str) -> Response:
        query_unreachable(kind)
        return Response({"reached": True})


urlpatterns = [
    path("boom", broken_view),
    path("api-boom", BrokenApi.as_view()),
    path("offline/<str:kind>", offline_view),
    path("api-offline/<str:kind>", OfflineApi.as_view()),
    path("admin/boom", broken_view),  # a browser path
]


@pytest.fixture(scope="module", autouse=True)
def _close_unreachable_pools() -> Iterator[None]:
    yield
    for wrapper in UNREACHABLE.values():
        wrapper.close_pool()


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the console handler configured by ``LOGGING`` writes (its format and filters)."""
    [configured] = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RequestIdFilter) for f in handler.filters)
    ]
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(configured.formatter)
    for log_filter in configured.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    try:
        yield output
    finally:
        logging.getLogger().removeHandler(handler)


def json_detail(response) -> str:
    assert response.header("content-type") == "application/json", response.body[:300]
    body = orjson.loads(response.body)
    assert set(body) == {"detail"}, body
    return body["detail"]


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("path", ["/boom", "/api-boom"], ids=["plain view", "DRF view"])
def test_an_unhandled_exception_is_a_json_500_logged_with_the_request_id(console, path):
    response = request("GET", path, headers={"x-request-id": "req-kaboom"})

    assert response.status == 500
    assert json_detail(response) == "Internal Server Error"  # not the exception's text
    assert response.header("x-request-id") == "req-kaboom"
    [line] = [line for line in console.getvalue().splitlines() if "Internal Server Error" in line]
    assert "ERROR django.request [req-kaboom]: Internal Server Error: " + path in line
    assert "RuntimeError: kaboom" in console.getvalue()  # with its traceback


@override_settings(ROOT_URLCONF=__name__)
def test_a_browser_path_keeps_djangos_html_500():
    response = request("GET", "/admin/boom")
    assert response.status == 500
    assert response.header("content-type").startswith("text/html")


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("kind", ["pool", "direct"])
@pytest.mark.parametrize("view", ["offline", "api-offline"], ids=["plain view", "DRF view"])
def test_an_unreachable_database_is_a_503_with_retry_after(console, view, kind):
    started = time.monotonic()
    response = request("GET", f"/{view}/{kind}", headers={"x-request-id": "req-offline"})
    elapsed = time.monotonic() - started

    assert response.status == 503
    assert "database is unavailable" in json_detail(response)
    assert response.header("retry-after") == "1"
    assert elapsed < 5  # the pool's timeout (0.5 s) or a refused connection, not a hang
    assert f"django.request [req-offline]: Service Unavailable: /{view}/{kind}" in (
        console.getvalue()
    )


@override_settings(ROOT_URLCONF=__name__)
def test_an_unknown_api_path_is_a_json_404_and_a_browser_one_html():
    assert json_detail(request("GET", "/nope")) == "Not Found"
    browser = request("GET", "/dashboard/nope")
    assert browser.status == 404
    assert browser.header("content-type").startswith("text/html")


def test_log_lines_outside_a_request_say_so(console):
    logging.getLogger("tests").warning("no request here")
    assert "WARNING tests [-]: no request here" in console.getvalue()
