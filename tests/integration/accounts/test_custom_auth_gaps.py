"""LangGraph custom auth where the first cut did not reach (the real ``langgraph_sdk.Auth``
loaded from a ``langgraph.json`` named by ``DURAGRAPH_CONFIG``, real PostgreSQL): the stateless
join stream and the batch cancel run the ``threads`` handlers, cron searches and counts check
each cron's thread, WebSockets are authenticated and authorized by the handlers, and searches
apply ``$or`` and ``$eq`` of an object."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from pathlib import Path

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from accounts import custom_auth
from accounts.websockets import AuthenticatedStack
from assistants import domain as assistant_domain
from assistants import graphs
from assistants import services as assistant_services
from runs import consumers, crons, services
from runs.models import Run

pytestmark = pytest.mark.usefixtures("auth_on")

AUTH_PY = """
from langgraph_sdk import Auth

auth = Auth()

@auth.authenticate
def authenticate(authorization: str | None, path: str):
    if authorization not in ("Bearer ada", "Bearer bob", "Bearer nay"):
        raise Auth.exceptions.HTTPException(status_code=401, detail="who are you?")
    return authorization.split()[1]

@auth.on.threads.create
@auth.on.threads.create_run
async def stamp(ctx, value):
    value.setdefault("metadata", {})["owner"] = ctx.user.identity

@auth.on.threads.read
@auth.on.threads.update
async def own(ctx, value):
    if ctx.user.identity == "nay":
        return False
    return {"owner": ctx.user.identity}

@auth.on.threads.search
async def own_or_public(ctx, value):
    return {"$or": [{"owner": ctx.user.identity}, {"public": True}]}

@auth.on.assistants.create
async def tag(ctx, value):
    value.setdefault("metadata", {})["team"] = {"lead": ctx.user.identity}

@auth.on.assistants.search
async def teams(ctx, value):
    return {"team": {"$eq": {"lead": ctx.user.identity}}}
"""


@pytest.fixture
def custom(tmp_path, monkeypatch):
    (tmp_path / "auth.py").write_text(textwrap.dedent(AUTH_PY))
    config = tmp_path / "langgraph.json"
    agent = Path(__file__).resolve().parents[3] / "examples" / "graphs.py"
    config.write_text(
        json.dumps({"graphs": {"agent": f"{agent}:agent"}, "auth": {"path": "./auth.py:auth"}})
    )
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(config))
    graphs.registry.cache_clear()
    custom_auth.configured.cache_clear()
    yield
    graphs.registry.cache_clear()
    custom_auth.configured.cache_clear()


@pytest.fixture
def agent(db) -> uuid.UUID:
    assistant_services.assistant_ensure_default(graph_id="agent")
    return assistant_domain.system_assistant_id("agent")


def as_(name):
    return {"HTTP_AUTHORIZATION": f"Bearer {name}"}


def thread_of(api, name, **metadata) -> str:
    made = api.post("/threads", {"metadata": metadata}, format="json", **as_(name))
    assert made.status_code == 200, made.content
    return made.json()["thread_id"]


def pending_run(thread_id: str, agent: uuid.UUID) -> Run:
    return services.run_create(
        thread_id=uuid.UUID(thread_id),
        assistant_id=agent,
        metadata={"owner": "whoever"},
        multitask_strategy="enqueue",
    )


# -- 1. the stateless join stream and the batch cancel ----------------------------------------
def join_status(api, run_id, name) -> tuple[int, object]:
    response = api.get(f"/runs/{run_id}/stream", **as_(name))
    body = None if response.streaming else response.json()
    response.close()
    return response.status_code, body


@pytest.mark.django_db(transaction=True)  # a stream reads the log on connections of its own
def test_joining_a_run_by_its_id_reads_its_thread(api, custom, agent, no_nats):
    run = pending_run(thread_of(api, "ada"), agent)
    services.run_cancel(run_id=run.run_id)  # ended: the stream replays and ends
    stateless = api.post(
        "/runs",
        {"assistant_id": str(agent), "metadata": {"owner": "bob"}},
        **as_("ada"),
        format="json",
    )
    assert stateless.status_code == 200, stateless.content
    stateless_id = stateless.json()["run_id"]
    services.run_cancel(run_id=uuid.UUID(stateless_id))  # its temporary thread goes with it

    for run_id in (run.run_id, stateless_id):
        assert join_status(api, run_id, "ada")[0] == 200
        unknown = uuid.uuid4()
        assert join_status(api, run_id, "bob") == (
            404,
            {"detail": f"Run {run_id} not found"},
        )
        assert join_status(api, unknown, "bob") == (404, {"detail": f"Run {unknown} not found"})
        assert join_status(api, run_id, "nay")[0] == 403  # the handler's False


def test_the_batch_cancel_only_touches_runs_of_threads_the_filters_let_in(api, custom, agent):
    adas = pending_run(thread_of(api, "ada"), agent)
    bobs = pending_run(thread_of(api, "bob"), agent)

    def cancel(name, body):
        return api.post("/runs/cancel", body, format="json", **as_(name))

    def status(run):
        return Run.objects.get(run_id=run.run_id).status

    refused = cancel("bob", {"run_ids": [str(adas.run_id)]})
    unknown = cancel("bob", {"run_ids": [str(uuid.uuid4())]})
    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json()
    assert cancel("bob", {"thread_id": str(adas.thread_id)}).status_code == 404
    assert cancel("nay", {"status": "all"}).status_code == 403
    assert status(adas) == status(bobs) == "pending"

    assert cancel("ada", {"run_ids": [str(adas.run_id), str(bobs.run_id)]}).status_code == 204
    assert (status(adas), status(bobs)) == ("interrupted", "pending")
    assert cancel("ada", {"status": "all"}).status_code == 404  # none of hers is left
    assert cancel("bob", {"status": "pending"}).status_code == 204
    assert status(bobs) == "interrupted"


# -- 2. cron searches and counts check each cron's thread ------------------------------------
def test_cron_searches_and_counts_see_only_crons_of_threads_the_filters_let_in(api, custom, agent):
    def cron(thread_id):
        return crons.cron_create(
            assistant_id=agent,
            thread_id=uuid.UUID(thread_id) if thread_id else None,
            schedule="0 0 1 1 *",
            payload={},
        ).cron_id

    adas_thread = thread_of(api, "ada")
    adas, bobs, nobodys = cron(adas_thread), cron(thread_of(api, "bob")), cron(None)
    public = cron(thread_of(api, "bob", public=True))

    def seen(name, **body):
        found = api.post("/runs/crons/search", {"limit": 100, **body}, format="json", **as_(name))
        count = api.post("/runs/crons/count", body, format="json", **as_(name))
        assert found.status_code == count.status_code == 200, found.content
        return {uuid.UUID(c["cron_id"]) for c in found.json()}, count.json()

    # Without a thread: the threads/search filters ($or: hers, or public); stateless exempt.
    assert seen("ada") == ({adas, nobodys, public}, 3)
    assert seen("bob") == ({bobs, nobodys, public}, 3)
    # Naming a thread: the threads/read filters on it.
    assert seen("ada", thread_id=adas_thread) == ({adas}, 1)
    assert seen("bob", thread_id=adas_thread) == (set(), 0)


# -- 4. searches with $or, and $eq of an object ----------------------------------------------
def test_searches_apply_or_and_eq_of_an_object(api, custom, agent):
    mine, public = thread_of(api, "ada"), thread_of(api, "bob", public=True)
    thread_of(api, "bob")
    thread_of(api, "bob", public="yes")  # not True: $or's second group wants exactly true

    found = api.post("/threads/search", {"limit": 100}, format="json", **as_("ada"))
    assert found.status_code == 200, found.content
    assert {t["thread_id"] for t in found.json()} == {mine, public}
    assert api.post("/threads/count", {}, format="json", **as_("ada")).json() == 2
    narrowed = api.post(
        "/threads/search", {"metadata": {"public": True}}, format="json", **as_("ada")
    )
    assert [t["thread_id"] for t in narrowed.json()] == [public]

    made = api.post("/assistants", {"graph_id": "agent"}, format="json", **as_("ada"))
    assert made.status_code == 200, made.content
    assert made.json()["metadata"]["team"] == {"lead": "ada"}
    assistant_services.assistant_create(  # a superset of hers: $eq is not containment
        graph_id="agent", metadata={"team": {"lead": "ada", "deputy": "bob"}}
    )
    for name, expected in (("ada", [made.json()["assistant_id"]]), ("bob", [])):
        searched = api.post("/assistants/search", {"limit": 100}, format="json", **as_(name))
        assert searched.status_code == 200, searched.content
        ids = [a["assistant_id"] for a in searched.json() if a["metadata"].get("team")]
        assert ids == expected
        counted = api.post("/assistants/count", {}, format="json", **as_(name)).json()
        assert counted == len(expected)


# -- 3. WebSockets ----------------------------------------------------------------------------
APPLICATION = AuthenticatedStack(
    URLRouter(
        [
            path("ws/runs/<str:run_id>", consumers.RunStreamConsumer.as_asgi()),
            path("ws/threads/<str:thread_id>", consumers.ThreadStreamConsumer.as_asgi()),
        ]
    )
)


async def socket(socket_path: str, name: str | None) -> tuple[bool, list, int | None]:
    """Connects with ``Authorization: Bearer <name>`` (None: no header); whether the handshake
    was accepted, then every message until the server closes, and the close code."""
    headers = [(b"authorization", f"Bearer {name}".encode())] if name else []
    communicator = WebsocketCommunicator(APPLICATION, socket_path, headers=headers)
    connected, _ = await communicator.connect()
    if not connected:
        return False, [], None
    received = []
    while (output := await communicator.receive_output(timeout=10))["type"] != "websocket.close":
        received.append(json.loads(output["text"]))
    await communicator.disconnect()
    return True, received, output.get("code")


@pytest.mark.django_db(transaction=True)
def test_websockets_are_authenticated_and_authorized_by_the_handlers(
    api, custom, agent, no_nats, new_key
):
    _, key = new_key()
    thread = thread_of(api, "ada")
    run = pending_run(thread, agent)
    services.run_cancel(run_id=run.run_id)
    not_found = [{"event": "error", "data": "not found"}]

    async def go() -> None:
        for socket_path in (f"/ws/runs/{run.run_id}", f"/ws/threads/{thread}"):
            # The authenticate handler decides: no credential, an unknown one, or one of our
            # API keys (custom auth replaces them) is refused before the handshake completes.
            assert (await socket(socket_path, None))[0] is False
            assert (await socket(socket_path, "eve"))[0] is False
            assert (await socket(socket_path, key))[0] is False
            unknown = socket_path.rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
            assert await socket(socket_path, "bob") == await socket(unknown, "bob")
            assert await socket(socket_path, "bob") == (True, not_found, 4404)
            refused = await socket(socket_path, "nay")
            assert refused == (True, [{"event": "error", "data": "Forbidden"}], 4403)
        accepted, received, code = await socket(f"/ws/runs/{run.run_id}", "ada")
        assert (accepted, code) == (True, 1000)
        assert "error" not in {message["event"] for message in received}

    asyncio.run(go())
