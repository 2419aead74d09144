"""``langgraph.json``'s ``http.enable_custom_route_auth``: ``http.app``'s routes behind our
authentication (``duragraph_site.custom_app``), driven as ASGI on real PostgreSQL keys and a
real ``langgraph_sdk.Auth`` handler: the same credentials as the API, refusals as JSON 401/403
inside the app's own middleware, and the caller handed to the route as LangGraph hands it
(``request.user``, ``request.auth.scopes``)."""

from __future__ import annotations

import json
import textwrap

import httpx
import pytest
from django.core import checks
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from accounts import custom_auth, services
from duragraph_site import custom_app

pytestmark = [pytest.mark.django_db(transaction=True)]

AUTH_PY = """
from langgraph_sdk import Auth

auth = Auth()

@auth.authenticate
def authenticate(authorization: str | None, method: str, path: str):
    if authorization == "Bearer banned":
        raise Auth.exceptions.HTTPException(status_code=403, detail="not you")
    if authorization != "Bearer ada":
        raise Auth.exceptions.HTTPException(status_code=401, detail="who are you?")
    return {"identity": "ada", "permissions": ["read", f"{method} {path}"], "team": "engine"}
"""


class Stamp:
    """The app's own middleware: marks every answer, refusals included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def stamped(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-stamped", b"yes")]
            await send(message)

        await self.app(scope, receive, stamped)


async def me(request):
    if "user" not in request.scope:
        return JSONResponse({"open": True})
    user = request.user
    return JSONResponse(
        {
            "identity": user.identity,
            "display_name": user.display_name,
            "is_authenticated": user.is_authenticated,
            "scopes": request.auth.scopes,
            "principal": request.scope["principal"].identity,
        }
    )


async def ours(scope, receive, send):
    await JSONResponse({"ours": True})(scope, receive, send)


def call(
    headers: dict[str, str] | None = None, *, authenticated: bool = True, method: str = "GET"
) -> httpx.Response:
    """``method /me`` through the mounted app, as ASGI (Starlette's test client)."""
    app = Starlette(
        routes=[Route("/me", me, methods=["GET", "POST"])], middleware=[Middleware(Stamp)]
    )
    http = TestClient(custom_app.mounted(ours, app, authenticated=authenticated))
    return http.request(method, "/me", headers=headers or {})


@pytest.mark.usefixtures("auth_on")
def test_a_key_of_the_api_is_the_route_s_caller():
    key, plaintext = services.create_api_key(name="route", tenant="acme")
    answer = call({"x-api-key": plaintext})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "identity": f"apikey:{key.prefix}",
        "display_name": "route",
        "is_authenticated": True,
        "scopes": [],
        "principal": f"apikey:{key.prefix}",
    }
    bearer = call({"authorization": f"Bearer {plaintext}"})
    assert bearer.json()["identity"] == f"apikey:{key.prefix}"


@pytest.mark.usefixtures("auth_on")
@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "No credentials"),
        ({"x-api-key": "dg_000000000000_not-a-key"}, 401, "Invalid API key"),
        ("worker", 403, "lacks the 'api' scope"),
    ],
)
def test_a_caller_the_api_would_refuse_is_refused_inside_the_app_s_middleware(
    headers, status, detail
):
    if headers == "worker":
        _, plaintext = services.create_api_key(name="worker", scopes=["worker"], all_tenants=True)
        headers = {"x-api-key": plaintext}
    answer = call(headers)
    assert answer.status_code == status
    assert detail in answer.json()["detail"] and set(answer.json()) == {"detail"}
    assert answer.headers["x-stamped"] == "yes", (
        "the app's middleware runs first (LangGraph's order)"
    )


@pytest.mark.usefixtures("auth_on")
def test_without_the_flag_the_routes_stay_open():
    answer = call({}, authenticated=False)
    assert answer.status_code == 200 and answer.json() == {"open": True}


def test_with_authentication_off_the_caller_is_anonymous():
    answer = call({})
    assert answer.status_code == 200
    assert answer.json()["identity"] == "anonymous"
    assert answer.json()["is_authenticated"] is False


@pytest.fixture
def handler(tmp_path, monkeypatch, auth_on):
    (tmp_path / "auth.py").write_text(textwrap.dedent(AUTH_PY))
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "auth": {"path": "./auth.py:auth"}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(config))
    custom_auth.configured.cache_clear()
    yield
    custom_auth.configured.cache_clear()


@pytest.mark.usefixtures("handler")
def test_a_custom_auth_handler_decides_and_its_user_is_the_route_s():
    answer = call({"authorization": "Bearer ada"}, method="POST")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "identity": "ada",
        "display_name": "ada",
        "is_authenticated": True,
        "scopes": ["read", "POST /me"],  # the handler saw the request's method and path
        "principal": "custom:ada",
    }
    refused = call({"authorization": "Bearer bob"})
    assert refused.status_code == 401 and "who are you?" in refused.json()["detail"]
    banned = call({"authorization": "Bearer banned"})
    assert banned.status_code == 403 and "not you" in banned.json()["detail"]


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("yes", ("duragraph.E001", "langgraph.json http.enable_custom_route_auth: true or false")),
        (True, None),
    ],
)
def test_the_flag_is_checked_and_acted_on(tmp_path, monkeypatch, value, found):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"http": {"enable_custom_route_auth": value}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    messages = {(m.id, m.msg) for m in checks.run_checks() if m.id.startswith("duragraph.")}
    assert messages == ({found} if found else set())
