"""LangGraph custom auth through the API (Django's test client, the real ``langgraph_sdk.Auth``
loaded from a ``langgraph.json`` named by ``DURAGRAPH_CONFIG``): the authenticate handler
replaces keys on the API routes, the authorization handlers reject, stamp metadata on create
and scope reads, updates, deletes and searches; the worker routes keep the worker keys, and
``AUTH_ENABLED`` off turns it all off."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid

import pytest

from accounts import custom_auth
from assistants import graphs

pytestmark = pytest.mark.usefixtures("auth_on")

AUTH_PY = """
from langgraph_sdk import Auth

auth = Auth()
SEEN = []

@auth.authenticate
def authenticate(authorization: str | None, headers: dict, path: str, method: str):
    SEEN.append({"path": path, "method": method, "team": headers.get(b"x-team")})
    if authorization == "Bearer boom":
        raise Auth.exceptions.HTTPException(status_code=418, detail="short and stout")
    if authorization not in ("Bearer ada", "Bearer bob"):
        raise Auth.exceptions.HTTPException(status_code=401, detail="who are you?")
    name = authorization.split()[1]
    return {"identity": name, "permissions": ["threads:write"] if name == "ada" else []}

@auth.on.threads.create
async def stamp(ctx: Auth.types.AuthContext, value: Auth.types.on.threads.create.value):
    assert "threads:write" in ctx.permissions, "read-only user"
    value.setdefault("metadata", {})["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}

@auth.on.threads.read
@auth.on.threads.update
@auth.on.threads.delete
@auth.on.threads.search
async def own(ctx, value):
    return {"owner": {"$eq": ctx.user.identity}}

@auth.on.assistants
async def no_assistants(ctx, value):
    return False

@auth.on.store
async def teapot(ctx, value):
    raise Auth.exceptions.HTTPException(status_code=418, detail="no store today")
"""


@pytest.fixture
def custom(tmp_path, monkeypatch):
    (tmp_path / "auth.py").write_text(textwrap.dedent(AUTH_PY))
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "auth": {"path": "./auth.py:auth"}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(config))
    graphs.registry.cache_clear()
    custom_auth.configured.cache_clear()
    yield
    graphs.registry.cache_clear()
    custom_auth.configured.cache_clear()


def as_(name):
    return {"HTTP_AUTHORIZATION": f"Bearer {name}"}


def test_the_authenticate_handler_decides_and_its_refusals_are_json(api, custom, db):
    assert api.post("/threads/search", {}, format="json", **as_("ada")).status_code == 200
    refused = api.post("/threads/search", {}, format="json", **as_("eve"))
    assert refused.status_code == 401
    assert refused.json() == {"detail": "who are you?"}
    assert refused["WWW-Authenticate"]
    teapot = api.post("/threads/search", {}, format="json", **as_("boom"))
    assert (teapot.status_code, teapot.json()) == (418, {"detail": "short and stout"})


def test_the_handler_is_given_headers_path_and_method(api, custom, db, tmp_path):
    api.get("/threads/" + str(uuid.uuid4()), HTTP_X_TEAM="blue", **as_("ada"))
    module = next(
        m
        for m in list(sys.modules.values())
        if getattr(m, "__file__", None) == str(tmp_path / "auth.py")
    )
    seen = [s for s in module.SEEN if s["team"] == b"blue"][-1]
    assert seen["method"] == "GET"
    assert seen["path"].startswith("/threads/")


def test_api_keys_no_longer_open_the_api(api, custom, new_key):
    _, key = new_key(name="k")
    assert api.post("/threads/search", {}, format="json", HTTP_X_API_KEY=key).status_code == 401


def test_create_stamps_the_owner_and_filters_scope_everything_else(api, custom, db):
    made = api.post("/threads", {"metadata": {"owner": "bob", "t": 1}}, format="json", **as_("ada"))
    assert made.status_code == 200
    thread = made.json()
    assert thread["metadata"] == {"owner": "ada", "t": 1}
    path = f"/threads/{thread['thread_id']}"

    assert api.get(path, **as_("ada")).status_code == 200
    unknown = api.get(f"/threads/{uuid.uuid4()}", **as_("bob"))
    other = api.get(path, **as_("bob"))
    assert other.status_code == unknown.status_code == 404
    assert other.json()["detail"] == f"Thread with ID {thread['thread_id']} not found"
    assert api.patch(path, {"metadata": {"x": 1}}, format="json", **as_("bob")).status_code == 404
    assert api.get(f"{path}/state", **as_("bob")).status_code == 404
    assert api.post(f"{path}/history", {}, format="json", **as_("bob")).status_code == 404
    assert api.delete(path, **as_("bob")).status_code == 404
    assert api.post(f"{path}/copy", **as_("bob")).status_code == 404

    def visible(name):
        found = api.post("/threads/search", {"limit": 100}, format="json", **as_(name)).json()
        count = api.post("/threads/count", {}, format="json", **as_(name)).json()
        return {t["thread_id"] for t in found}, count

    assert visible("ada") == ({thread["thread_id"]}, 1)
    assert visible("bob") == (set(), 0)
    contradiction = api.post(
        "/threads/search", {"metadata": {"owner": "ada"}}, format="json", **as_("bob")
    )
    assert contradiction.json() == []
    assert api.delete(path, **as_("ada")).status_code == 204


def test_a_failed_assertion_or_false_is_403_and_an_http_exception_its_status(api, custom, db):
    read_only = api.post("/threads", {}, format="json", **as_("bob"))
    assert read_only.status_code == 403
    assert read_only.json() == {"detail": "read-only user"}
    forbidden = api.post("/assistants/search", {}, format="json", **as_("ada"))
    assert (forbidden.status_code, forbidden.json()) == (403, {"detail": "Forbidden"})
    store = api.put(
        "/store/items", {"namespace": ["a"], "key": "k", "value": {}}, format="json", **as_("ada")
    )
    assert (store.status_code, store.json()) == (418, {"detail": "no store today"})


def test_worker_routes_keep_the_worker_keys(api, custom, settings, db):
    settings.DURAGRAPH_WORKER_API_KEYS = ["worker-secret"]
    assert api.get("/api/v1/workers/", **as_("ada")).status_code in (401, 403)
    answer = api.get("/api/v1/workers/", HTTP_X_API_KEY="worker-secret")
    assert answer.status_code == 200


def test_authentication_off_turns_custom_auth_off(api, custom, settings, db):
    settings.AUTH_ENABLED = False
    made = api.post("/threads", {"metadata": {"t": 1}}, format="json")
    assert made.status_code == 200
    assert made.json()["metadata"] == {"t": 1}
