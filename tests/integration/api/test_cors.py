"""CORS (django-cors-headers) through the real ASGI application, on the API handler's chain and
on the browser handler's: preflights answered before any view, the SDK's request headers
allowed, the headers a page must read exposed, nothing for an origin not configured."""

from __future__ import annotations

import orjson
import pytest
from django.conf import settings
from django.test import override_settings

from tests.integration.test_request_path import request

pytestmark = pytest.mark.django_db

STUDIO = "https://smith.langchain.com"
configured = override_settings(
    CORS_ALLOWED_ORIGINS=[STUDIO],
    CORS_ALLOWED_ORIGIN_REGEXES=[r"^https://[a-z0-9-]+\.preview\.example$"],
)


def preflight(path: str, origin: str, method: str = "POST", **headers: str):
    return request(
        "OPTIONS",
        path,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": "x-api-key, content-type, last-event-id",
            **headers,
        },
    )


def exposed(response) -> set[str]:
    return {h.strip() for h in (response.header("access-control-expose-headers") or "").split(",")}


@configured
@pytest.mark.parametrize("path", ["/threads", "/api/v1/threads/search", "/runs/stream"])
def test_preflight_on_api_routes_is_answered_with_cors_headers(path):
    response = preflight(path, STUDIO)
    assert response.status == 200  # not the view's 405: the middleware answers
    assert response.header("access-control-allow-origin") == STUDIO
    allowed = {h.strip() for h in response.header("access-control-allow-headers").split(",")}
    assert {
        "x-api-key",
        "authorization",
        "content-type",
        "last-event-id",
        "x-request-id",
    } <= allowed
    assert "POST" in response.header("access-control-allow-methods")
    assert response.header("access-control-allow-credentials") is None  # off by default
    assert response.header("access-control-max-age") == "600"


@configured
def test_answers_to_an_allowed_origin_expose_what_the_sdk_reads():
    response = request("GET", "/ok", headers={"origin": STUDIO})
    assert response.status == 200
    assert response.header("access-control-allow-origin") == STUDIO
    assert exposed(response) >= {
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
    assert "origin" in response.header("vary").lower()


@configured
def test_origins_matched_by_pattern_scheme_included():
    assert (
        request("GET", "/ok", headers={"origin": "https://pr-12.preview.example"}).header(
            "access-control-allow-origin"
        )
        == "https://pr-12.preview.example"
    )
    for origin in ("http://pr-12.preview.example", "https://pr.preview.example.evil.example"):
        assert (
            request("GET", "/ok", headers={"origin": origin}).header("access-control-allow-origin")
            is None
        )


@configured
@pytest.mark.parametrize("origin", ["https://evil.example", "http://smith.langchain.com", "null"])
def test_other_origins_get_no_cors_headers(origin):
    for response in (
        preflight("/threads", origin),
        request("GET", "/ok", headers={"origin": origin}),
    ):
        assert response.header("access-control-allow-origin") is None
        assert response.header("access-control-expose-headers") is None


def test_nothing_is_allowed_by_default():
    assert settings.CORS_ALLOWED_ORIGINS == [] and settings.CORS_ALLOWED_ORIGIN_REGEXES == []
    assert settings.CORS_ALLOW_CREDENTIALS is False
    response = preflight("/threads", STUDIO)
    assert response.header("access-control-allow-origin") is None


@override_settings(CORS_ALLOWED_ORIGINS=[STUDIO], CORS_ALLOW_CREDENTIALS=True)
def test_credentials_when_configured():
    response = request("GET", "/ok", headers={"origin": STUDIO})
    assert response.header("access-control-allow-credentials") == "true"


@configured
def test_browser_paths_too():
    response = request("GET", "/openapi.json", headers={"origin": STUDIO})
    assert response.header("access-control-allow-origin") == STUDIO
    response = preflight("/admin/login/", STUDIO)  # the browser handler's chain
    assert response.status == 200
    assert response.header("access-control-allow-origin") == STUDIO


@configured
@override_settings(ALLOWED_HOSTS=["api.example.com"])
@pytest.mark.parametrize("path", ["/threads", "/admin/login/"])
def test_a_preflight_to_a_foreign_host_is_refused(path):
    response = preflight(path, STUDIO, host="evil.example")
    assert response.status == 400
    assert response.header("access-control-allow-origin") is None
    if path == "/threads":
        assert "detail" in orjson.loads(response.body)
    assert preflight(path, STUDIO, host="api.example.com").status == 200


@pytest.fixture
def langgraph_cors(tmp_path, monkeypatch):
    """``langgraph.json`` ``http.cors`` applied as at start (``apply_langgraph_cors``), the
    settings it replaced restored afterwards."""
    from duragraph_site import apps

    names = [
        "CORS_ALLOW_ALL_ORIGINS",
        "CORS_ALLOWED_ORIGINS",
        "CORS_ALLOWED_ORIGIN_REGEXES",
        "CORS_ALLOW_METHODS",
        "CORS_ALLOW_HEADERS",
        "CORS_EXPOSE_HEADERS",
        "CORS_ALLOW_CREDENTIALS",
        "CORS_PREFLIGHT_MAX_AGE",
    ]
    for name in names:
        if hasattr(settings, name):
            monkeypatch.setattr(settings, name, getattr(settings, name))

    def apply(cors: dict) -> None:
        path = tmp_path / "langgraph.json"
        path.write_text(orjson.dumps({"graphs": {}, "http": {"cors": cors}}).decode())
        monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
        apps.apply_langgraph_cors()

    return apply


def test_langgraph_json_http_cors_configures_what_browsers_may_do(langgraph_cors):
    page = "https://app.example"
    langgraph_cors(
        {
            "allow_origins": [page],
            "allow_methods": ["GET", "POST"],
            "allow_headers": ["X-Tenant"],
            "allow_credentials": True,
            "expose_headers": ["X-Custom"],
            "max_age": 60,
        }
    )
    response = preflight("/threads", page, **{"access-control-request-headers": "x-tenant"})
    assert response.header("access-control-allow-origin") == page
    assert response.header("access-control-allow-methods") == "GET, POST"
    allowed = {h.strip() for h in response.header("access-control-allow-headers").split(",")}
    assert {"x-tenant", "x-api-key", "content-type"} <= allowed  # the SDK's stay allowed
    assert response.header("access-control-allow-credentials") == "true"
    assert response.header("access-control-max-age") == "60"
    answer = request("GET", "/ok", headers={"origin": page})
    assert {"X-Custom", "X-Request-ID"} <= exposed(answer)
    assert preflight("/threads", STUDIO).header("access-control-allow-origin") is None


def test_langgraph_json_http_cors_wildcards(langgraph_cors):
    langgraph_cors({"allow_origins": ["*"], "allow_methods": ["*"]})
    response = preflight("/threads", "https://anywhere.example", method="DELETE")
    assert response.header("access-control-allow-origin") == "*"
    assert "DELETE" in response.header("access-control-allow-methods")


def test_langgraph_json_http_cors_origin_regex(langgraph_cors):
    langgraph_cors({"allow_origin_regex": r"^https://[a-z]+\.preview\.example$"})
    response = preflight("/threads", "https://pr.preview.example")
    assert response.header("access-control-allow-origin") == "https://pr.preview.example"
    assert preflight("/threads", "https://pr.example").header("access-control-allow-origin") is None


@pytest.mark.parametrize(
    ("cors", "key"),
    [
        (["*"], "http.cors"),
        ({"allow_origin": ["x"]}, "unknown keys"),
        ({"allow_origins": "https://a.example"}, "allow_origins"),
        ({"allow_methods": [1]}, "allow_methods"),
        ({"allow_credentials": "yes"}, "allow_credentials"),
        ({"max_age": -1}, "max_age"),
        ({"allow_origin_regex": ["x"]}, "allow_origin_regex"),
    ],
)
def test_a_malformed_http_cors_fails_the_system_check_and_changes_nothing(
    langgraph_cors, cors, key
):
    from django.core import checks

    before = list(settings.CORS_ALLOWED_ORIGINS)
    langgraph_cors(cors)
    assert settings.CORS_ALLOWED_ORIGINS == before
    errors = [m for m in checks.run_checks() if m.id == "duragraph.E001"]
    assert len(errors) == 1 and key in errors[0].msg
