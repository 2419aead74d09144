"""``langgraph.json``'s ``http.app`` on a real daphne, as LangGraph Platform serves it: the
user's Starlette routes beside the API (shadowing a built-in one), its middleware around every
request, its errors answered by Starlette, and everything else still DuraGraph's."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.processes import start_api_server

pytestmark = pytest.mark.e2e

CUSTOM_APP = """
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route


class Stamp:
    '''Marks every answer, DuraGraph's too, as LangGraph's global user middleware does.'''

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def stamped(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-custom-app", b"seen")]
            await send(message)

        await self.app(scope, receive, send if scope["type"] != "http" else stamped)


async def hello(request):
    return JSONResponse({"hello": request.path_params["name"]})


async def info(request):
    return JSONResponse({"custom": True})


async def teapot(request):
    raise HTTPException(status_code=418, detail="short and stout")


app = Starlette(
    routes=[
        Route("/hello/{name}", hello),
        Route("/info", info),  # shadows the built-in GET /info
        Route("/teapot", teapot, methods=["POST"]),
    ],
    middleware=[Middleware(Stamp)],
)
"""


def test_a_custom_starlette_app_is_served_beside_the_api(server_env, tmp_path):
    (tmp_path / "webapp.py").write_text(CUSTOM_APP)
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "http": {"app": "./webapp.py:app"}}))
    env = {**server_env, "DURAGRAPH_CONFIG": str(config), "AUTH_ENABLED": "true"}
    process, url = start_api_server("daphne-custom-app", env, tmp_path)
    try:
        hello = httpx.get(f"{url}/hello/ada")
        assert hello.status_code == 200 and hello.json() == {"hello": "ada"}
        # Custom routes are not behind DuraGraph's authentication (LangGraph's default)...
        assert hello.headers["x-custom-app"] == "seen"
        assert httpx.get(f"{url}/info").json() == {"custom": True}
        teapot = httpx.post(f"{url}/teapot")
        assert teapot.status_code == 418 and teapot.text == "short and stout"  # Starlette's

        # ...while the API keeps its own, and the app's middleware wraps it too.
        refused = httpx.post(f"{url}/threads", json={})
        assert refused.status_code == 401 and refused.headers["x-custom-app"] == "seen"
        # A path the custom app has with another method, or not at all, is DuraGraph's.
        missing = httpx.get(f"{url}/teapot")
        assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
        assert httpx.get(f"{url}/ok").json() == {"ok": True}
    finally:
        process.stop()


GUARDED_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def me(request):
    return JSONResponse({"identity": request.user.identity, "tenant": request.user["tenant"]})


app = Starlette(routes=[Route("/me", me)])
"""


def test_with_enable_custom_route_auth_its_routes_need_an_api_credential(
    server_env, e2e_database, django_db_blocker, tmp_path
):
    from accounts import services

    with django_db_blocker.unblock():
        key, plaintext = services.create_api_key(name="custom routes", tenant="acme")
    (tmp_path / "webapp.py").write_text(GUARDED_APP)
    config = tmp_path / "langgraph.json"
    http = {"app": "./webapp.py:app", "enable_custom_route_auth": True}
    config.write_text(json.dumps({"graphs": {}, "http": http}))
    env = {**server_env, "DURAGRAPH_CONFIG": str(config), "AUTH_ENABLED": "true"}
    process, url = start_api_server("daphne-custom-auth", env, tmp_path)
    try:
        refused = httpx.get(f"{url}/me")
        assert refused.status_code == 401 and "No credentials" in refused.json()["detail"]
        forged = httpx.get(f"{url}/me", headers={"x-api-key": "dg_000000000000_forged"})
        assert forged.status_code == 401
        me = httpx.get(f"{url}/me", headers={"x-api-key": plaintext})
        assert me.status_code == 200
        assert me.json() == {"identity": f"apikey:{key.prefix}", "tenant": "acme"}
    finally:
        process.stop()


LIFESPAN_APP = """
import contextlib
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

LEDGER = Path(os.environ["LIFESPAN_LEDGER"])


@contextlib.asynccontextmanager
async def lifespan(app):
    with LEDGER.open("a") as ledger:
        ledger.write(f"startup {os.getpid()}\\n")
    yield {"greeting": "hello from the lifespan"}
    with LEDGER.open("a") as ledger:
        ledger.write(f"shutdown {os.getpid()}\\n")


class Greet:
    '''Puts the lifespan's state in a header of every answer, DuraGraph's too.'''

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def greeted(message):
            if message["type"] == "http.response.start":
                greeting = scope["state"]["greeting"].encode()
                message["headers"] = [*message.get("headers", []), (b"x-greeting", greeting)]
            await send(message)

        await self.app(scope, receive, greeted if scope["type"] == "http" else send)


async def greeting(request):
    return JSONResponse({"greeting": request.state.greeting})


app = Starlette(
    routes=[Route("/greeting", greeting)], middleware=[Middleware(Greet)], lifespan=lifespan
)
"""

FAILING_LIFESPAN_APP = """
import contextlib

from starlette.applications import Starlette


@contextlib.asynccontextmanager
async def lifespan(app):
    raise RuntimeError("no model to load")
    yield


app = Starlette(routes=[], lifespan=lifespan)
"""


def test_the_custom_app_s_lifespan_runs_around_daphne_s_life(server_env, tmp_path):
    (tmp_path / "webapp.py").write_text(LIFESPAN_APP)
    ledger = tmp_path / "ledger.txt"
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "http": {"app": "./webapp.py:app"}}))
    env = {**server_env, "DURAGRAPH_CONFIG": str(config), "LIFESPAN_LEDGER": str(ledger)}
    process, url = start_api_server("daphne-lifespan", env, tmp_path)
    pid = process.popen.pid
    try:
        answer = httpx.get(f"{url}/greeting")
        assert answer.json() == {"greeting": "hello from the lifespan"}
        assert httpx.get(f"{url}/ok").headers["x-greeting"] == "hello from the lifespan"
        assert ledger.read_text() == f"startup {pid}\n", "once, before the first request"
    finally:
        process.stop()
    assert process.popen.returncode == 0, process.output()[-3000:]
    assert ledger.read_text() == f"startup {pid}\nshutdown {pid}\n"


def test_a_lifespan_that_fails_at_startup_leaves_every_request_a_503_naming_it(
    server_env, tmp_path
):
    (tmp_path / "webapp.py").write_text(FAILING_LIFESPAN_APP)
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "http": {"app": "./webapp.py:app"}}))
    env = {**server_env, "DURAGRAPH_CONFIG": str(config)}
    process, url = start_api_server("daphne-lifespan-fails", env, tmp_path, ok_status=503)
    try:
        for path in ("/ok", "/threads/search"):
            refused = httpx.get(f"{url}{path}")
            assert refused.status_code == 503
            assert "no model to load" in refused.json()["detail"], refused.text
    finally:
        process.stop()
    assert "its lifespan failed at startup" in process.output()
