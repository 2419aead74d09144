"""Assistants, driven through a live daphne server by the official ``langgraph-sdk`` clients.

The live server commits to a database every e2e test shares, so each test tags what it creates
with its own metadata and filters searches and counts by that tag.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableEntityError,
)
from langgraph_sdk.schema import Assistant, AssistantVersion, GraphSchema

pytestmark = pytest.mark.e2e

ASSISTANT_KEYS = set(Assistant.__annotations__)
VERSION_KEYS = set(AssistantVersion.__annotations__)
SCHEMA_KEYS = set(GraphSchema.__annotations__)
#: LangGraph's namespace for the default assistant of a graph (``uuid5(NAMESPACE, graph_id)``).
SYSTEM_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
SIMPLE = str(uuid.uuid5(SYSTEM_NAMESPACE, "simple"))


@pytest.fixture
def tag() -> dict[str, str]:
    """Metadata that marks this test's assistants (the database is shared)."""
    return {"e2e": uuid.uuid4().hex}


def assert_assistant(assistant: object, *, graph_id: str, version: int) -> None:
    assert isinstance(assistant, dict)
    assert set(assistant) == ASSISTANT_KEYS
    assert uuid.UUID(assistant["assistant_id"])
    assert (assistant["graph_id"], assistant["version"]) == (graph_id, version)
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(assistant[stamp]).utcoffset() is not None


def test_create_and_get_with_langgraphs_defaults(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        created = client.assistants.create("simple", metadata=tag)
        assert_assistant(created, graph_id="simple", version=1)
        assert created["name"] == "Untitled"
        assert created["description"] is None
        assert created["metadata"] == tag
        assert created["created_at"] == created["updated_at"]
        assert client.assistants.get(created["assistant_id"]) == created


def test_config_configurable_and_context_mirror_each_other(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        from_config = client.assistants.create(
            "simple", config={"configurable": {"model": "small"}}, metadata=tag
        )
        assert from_config["config"] == {"configurable": {"model": "small"}}
        assert from_config["context"] == {"model": "small"}

        from_context = client.assistants.create(
            "simple", context={"model": "large"}, metadata=tag, name="ctx", description="d"
        )
        assert from_context["context"] == {"model": "large"}
        assert from_context["config"]["configurable"] == {"model": "large"}
        assert (from_context["name"], from_context["description"]) == ("ctx", "d")

        with pytest.raises(BadRequestError, match="context"):
            client.assistants.create(
                "simple", config={"configurable": {"a": 1}}, context={"b": 2}, metadata=tag
            )
        assert client.assistants.count(metadata=tag) == 2


def test_create_with_an_id_is_idempotent_only_when_asked(api_server, tag):
    assistant_id = str(uuid.uuid4())
    with get_sync_client(url=api_server.url, api_key=None) as client:
        first = client.assistants.create(
            "simple", assistant_id=assistant_id, name="a", metadata=tag
        )
        assert first["assistant_id"] == assistant_id
        with pytest.raises(ConflictError, match=assistant_id):
            client.assistants.create("simple", assistant_id=assistant_id, metadata=tag)
        again = client.assistants.create(
            "agent", assistant_id=assistant_id, if_exists="do_nothing", name="b"
        )
        assert again == first


def test_unknown_and_malformed_ids_raise_the_sdks_typed_errors(api_server):
    missing = str(uuid.uuid4())
    with get_sync_client(url=api_server.url, api_key=None) as client:
        with pytest.raises(NotFoundError, match="Graph 'nope' not found") as error:
            client.assistants.create("nope")
        assert "simple" in str(error.value.message)
        for call in (
            lambda: client.assistants.get(missing),
            lambda: client.assistants.update(missing, name="x"),
            lambda: client.assistants.delete(missing),
            lambda: client.assistants.get_versions(missing),
            lambda: client.assistants.set_latest(missing, 1),
            lambda: client.assistants.get_graph(missing),
            lambda: client.assistants.get_schemas(missing),
            lambda: client.assistants.get_subgraphs(missing),
        ):
            with pytest.raises(NotFoundError):
                call()
        # A graph name is not an assistant id on these paths (LangGraph answers 422 too).
        with pytest.raises(UnprocessableEntityError, match="assistant ID"):
            client.assistants.get("simple")
        with pytest.raises(UnprocessableEntityError, match="assistant ID"):
            client.assistants.get_graph("not-a-uuid")


def test_invalid_fields_are_422_naming_the_field(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        with pytest.raises(UnprocessableEntityError, match="metadata"):
            client.assistants.create("simple", metadata=["not", "an", "object"])
        with pytest.raises(UnprocessableEntityError, match="config"):
            client.assistants.create("simple", config="fast", metadata=tag)
        with pytest.raises(UnprocessableEntityError, match="if_exists"):
            client.assistants.create("simple", if_exists="overwrite", metadata=tag)
        with pytest.raises(UnprocessableEntityError, match="limit"):
            client.assistants.search(limit=0)
        with pytest.raises(UnprocessableEntityError, match="sort_by"):
            client.assistants.search(sort_by="colour")
        with pytest.raises(UnprocessableEntityError, match="select"):
            client.assistants.search(select=["password"])
        with pytest.raises(UnprocessableEntityError, match="version"):
            client.assistants.set_latest(SIMPLE, 0)
        with pytest.raises(UnprocessableEntityError, match="xray"):
            client.assistants.get_graph(SIMPLE, xray=-1)
        assert client.assistants.count(metadata=tag) == 0


def test_update_snapshots_a_new_version_and_set_latest_switches_back(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        v1 = client.assistants.create(
            "simple", name="one", config={"configurable": {"model": "small"}}, metadata=tag
        )
        assistant_id = v1["assistant_id"]
        v2 = client.assistants.update(assistant_id, name="two", metadata={**tag, "team": "x"})
        assert_assistant(v2, graph_id="simple", version=2)
        assert (v2["name"], v2["metadata"]) == ("two", {**tag, "team": "x"})
        assert v2["config"] == v1["config"]  # carried over
        assert v2["created_at"] == v1["created_at"]
        assert v2["updated_at"] > v1["updated_at"]
        v3 = client.assistants.update(assistant_id, graph_id="agent", description="moved")
        assert (v3["version"], v3["graph_id"], v3["name"]) == (3, "agent", "two")

        versions = client.assistants.get_versions(assistant_id)
        assert [v["version"] for v in versions] == [3, 2, 1]
        for version in versions:
            assert set(version) == VERSION_KEYS
            assert version["assistant_id"] == assistant_id
        assert [v["name"] for v in versions] == ["two", "two", "one"]
        assert [v["version"] for v in client.assistants.get_versions(assistant_id, limit=1)] == [3]
        assert [
            v["version"] for v in client.assistants.get_versions(assistant_id, limit=2, offset=1)
        ] == [2, 1]
        teams = client.assistants.get_versions(assistant_id, metadata={"team": "x"})
        assert [v["version"] for v in teams] == [3, 2]

        latest = client.assistants.set_latest(assistant_id, 1)
        assert_assistant(latest, graph_id="simple", version=1)
        assert (latest["name"], latest["metadata"]) == ("one", tag)
        assert latest["updated_at"] > v3["updated_at"]
        assert client.assistants.get(assistant_id) == latest
        with pytest.raises(NotFoundError):
            client.assistants.set_latest(assistant_id, 99)
        # set_latest activates a version; it does not add one.
        assert len(client.assistants.get_versions(assistant_id)) == 3


def test_search_filters_sorts_pages_and_selects(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        made = [
            client.assistants.create(graph, name=name, metadata={**tag, "n": n})
            for n, (graph, name) in enumerate(
                [("simple", "Beta bot"), ("agent", "alpha bot"), ("simple", "gamma")]
            )
        ]
        ids = [a["assistant_id"] for a in made]

        newest_first = client.assistants.search(metadata=tag)
        assert [a["assistant_id"] for a in newest_first] == ids[::-1]
        for assistant in newest_first:
            assert set(assistant) == ASSISTANT_KEYS

        by_name = client.assistants.search(metadata=tag, sort_by="name", sort_order="asc")
        assert [a["name"] for a in by_name] == ["Beta bot", "alpha bot", "gamma"]
        by_name_desc = client.assistants.search(metadata=tag, sort_by="name", sort_order="desc")
        assert [a["name"] for a in by_name_desc] == ["gamma", "alpha bot", "Beta bot"]
        oldest_first = client.assistants.search(
            metadata=tag, sort_by="created_at", sort_order="asc"
        )
        assert [a["assistant_id"] for a in oldest_first] == ids

        assert [a["name"] for a in client.assistants.search(metadata=tag, graph_id="simple")] == [
            "gamma",
            "Beta bot",
        ]
        assert [a["name"] for a in client.assistants.search(metadata=tag, name="BOT")] == [
            "alpha bot",
            "Beta bot",
        ]
        assert [a["name"] for a in client.assistants.search(metadata={**tag, "n": 1})] == [
            "alpha bot"
        ]

        first_page = client.assistants.search(metadata=tag, limit=2, response_format="object")
        assert set(first_page) == {"assistants", "next"}
        assert [a["name"] for a in first_page["assistants"]] == ["gamma", "alpha bot"]
        assert first_page["next"] == "2"
        last_page = client.assistants.search(
            metadata=tag, limit=2, offset=2, response_format="object"
        )
        assert [a["name"] for a in last_page["assistants"]] == ["Beta bot"]
        assert last_page["next"] is None

        selected = client.assistants.search(metadata=tag, select=["assistant_id", "name"])
        assert [set(a) for a in selected] == [{"assistant_id", "name"}] * 3

        assert client.assistants.count(metadata=tag) == 3
        assert client.assistants.count(metadata=tag, graph_id="agent") == 1
        assert client.assistants.count(metadata=tag, name="gam") == 1
        assert client.assistants.count(metadata={"e2e": "nobody"}) == 0


def test_system_assistants_exist_for_every_graph(api_server):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        system = client.assistants.search(metadata={"created_by": "system"}, limit=100)
        by_graph = {a["graph_id"]: a for a in system}
        assert {"simple", "agent"} <= set(by_graph)
        for graph_id, assistant in by_graph.items():
            assert assistant["assistant_id"] == str(uuid.uuid5(SYSTEM_NAMESPACE, graph_id))
            assert (assistant["name"], assistant["version"]) == (graph_id, 1)


def test_graph_schemas_and_subgraphs_of_the_simple_graph(api_server):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        drawable = client.assistants.get_graph(SIMPLE)
        assert set(drawable) == {"nodes", "edges"}
        assert [node["id"] for node in drawable["nodes"]] == ["__start__", "a", "b", "__end__"]
        assert drawable["nodes"][1] == {"id": "a", "type": "runnable", "data": {"name": "a"}}
        assert [(e["source"], e["target"]) for e in drawable["edges"]] == [
            ("__start__", "a"),
            ("a", "b"),
            ("b", "__end__"),
        ]
        assert client.assistants.get_graph(SIMPLE, xray=True) == drawable
        assert client.assistants.get_graph(SIMPLE, xray=2) == drawable

        schemas = client.assistants.get_schemas(SIMPLE)
        assert set(schemas) == SCHEMA_KEYS
        assert schemas["graph_id"] == "simple"
        assert schemas["input_schema"]["properties"]["items"]["type"] == "array"
        assert schemas["output_schema"]["properties"]["items"]["items"] == {"type": "string"}
        assert "items" in schemas["state_schema"]["properties"]
        assert schemas["config_schema"] is None
        assert schemas["context_schema"] is None

        assert client.assistants.get_subgraphs(SIMPLE) == {}
        assert client.assistants.get_subgraphs(SIMPLE, recurse=True) == {}
        assert client.assistants.get_subgraphs(SIMPLE, namespace="a") == {}


def test_delete_removes_the_assistant_and_optionally_its_threads(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        doomed = client.assistants.create("simple", metadata=tag)
        assert client.assistants.delete(doomed["assistant_id"]) is None
        with pytest.raises(NotFoundError):
            client.assistants.get(doomed["assistant_id"])
        with pytest.raises(NotFoundError):
            client.assistants.delete(doomed["assistant_id"])

        owner = client.assistants.create("simple", metadata=tag)
        thread = client.threads.create(metadata=tag)
        other = client.threads.create(metadata=tag)
        run = client.runs.create(thread["thread_id"], owner["assistant_id"], input={"items": []})
        client.runs.cancel(thread["thread_id"], run["run_id"])
        client.assistants.delete(owner["assistant_id"], delete_threads=True)
        with pytest.raises(NotFoundError):
            client.threads.get(thread["thread_id"])
        assert client.threads.get(other["thread_id"])["thread_id"] == other["thread_id"]
        assert client.assistants.count(metadata=tag) == 0


def test_the_async_client(api_server, tag):
    async def scenario() -> None:
        async with get_client(url=api_server.url, api_key=None) as client:
            created = await client.assistants.create("simple", name="async", metadata=tag)
            assert_assistant(created, graph_id="simple", version=1)
            assistant_id = created["assistant_id"]
            assert await client.assistants.get(assistant_id) == created

            updated = await client.assistants.update(assistant_id, context={"k": "v"})
            assert (updated["version"], updated["context"]) == (2, {"k": "v"})
            assert [v["version"] for v in await client.assistants.get_versions(assistant_id)] == [
                2,
                1,
            ]
            restored = await client.assistants.set_latest(assistant_id, 1)
            assert (restored["version"], restored["context"]) == (1, {})

            found = await client.assistants.search(metadata=tag, response_format="object")
            assert [a["assistant_id"] for a in found["assistants"]] == [assistant_id]
            assert found["next"] is None
            assert await client.assistants.count(metadata=tag) == 1

            drawable = await client.assistants.get_graph(assistant_id)
            assert [n["id"] for n in drawable["nodes"]] == ["__start__", "a", "b", "__end__"]
            schemas = await client.assistants.get_schemas(assistant_id)
            assert schemas["graph_id"] == "simple"
            assert await client.assistants.get_subgraphs(assistant_id) == {}

            with pytest.raises(ConflictError):
                await client.assistants.create("simple", assistant_id=assistant_id)
            with pytest.raises(UnprocessableEntityError, match="assistant ID"):
                await client.assistants.get("nope")
            await client.assistants.delete(assistant_id)
            with pytest.raises(NotFoundError):
                await client.assistants.get(assistant_id)

    asyncio.run(scenario())


def test_the_api_v1_prefix(api_server, tag):
    with get_sync_client(url=f"{api_server.url}/api/v1", api_key=None) as client:
        created = client.assistants.create("simple", metadata=tag)
        assert client.assistants.get(created["assistant_id"]) == created
        assert client.assistants.update(created["assistant_id"], name="v1")["version"] == 2
        assert [a["name"] for a in client.assistants.search(metadata=tag)] == ["v1"]
        assert client.assistants.count(metadata=tag) == 1
        assert len(client.assistants.get_graph(created["assistant_id"])["nodes"]) == 4
        client.assistants.delete(created["assistant_id"])
        with pytest.raises(NotFoundError):
            client.assistants.get(created["assistant_id"])
