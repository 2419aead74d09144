"""Crons, driven through a live daphne server by the official ``langgraph-sdk`` clients.

Schedules are months away (1 January, 1 February, ...), so no cron comes due while the suite
runs. Each test tags its crons with its own metadata: the database is shared.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from croniter import croniter
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
)
from langgraph_sdk.schema import Cron

pytestmark = pytest.mark.e2e

CRON_KEYS = set(Cron.__annotations__)
SYSTEM_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
SIMPLE = str(uuid.uuid5(SYSTEM_NAMESPACE, "simple"))
AGENT = str(uuid.uuid5(SYSTEM_NAMESPACE, "agent"))
NEW_YEAR = "0 0 1 1 *"
FEBRUARY = "0 0 1 2 *"
MARCH = "0 0 1 3 *"


@pytest.fixture
def tag() -> dict[str, str]:
    """Metadata that marks this test's crons and threads (the database is shared)."""
    return {"e2e": uuid.uuid4().hex}


def next_firing(schedule: str, tz_name: str = "UTC") -> datetime:
    zone = ZoneInfo(tz_name)
    return croniter(schedule, datetime.now(zone)).get_next(datetime).astimezone(UTC)


def parse(stamp: str) -> datetime:
    value = datetime.fromisoformat(stamp)
    assert value.utcoffset() is not None
    return value


def assert_cron(cron: object, *, thread_id: str | None, schedule: str) -> None:
    assert isinstance(cron, dict)
    assert set(cron) == CRON_KEYS
    assert uuid.UUID(cron["cron_id"])
    assert (cron["thread_id"], cron["schedule"]) == (thread_id, schedule)
    assert cron["user_id"] is None
    for stamp in ("created_at", "updated_at", "next_run_date"):
        parse(cron[stamp])


def test_create_for_a_thread_and_get_it(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        cron = client.crons.create_for_thread(
            thread_id,
            "simple",
            schedule=NEW_YEAR,
            input={"items": ["tick"]},
            metadata=tag,
            timezone="Europe/Paris",
            stream_mode=["values"],
            multitask_strategy="enqueue",
        )
        assert_cron(cron, thread_id=thread_id, schedule=NEW_YEAR)
        assert (cron["assistant_id"], cron["timezone"], cron["enabled"]) == (
            SIMPLE,
            "Europe/Paris",
            True,
        )
        assert cron["metadata"] == tag
        assert cron["end_time"] is None
        assert cron["on_run_completed"] is None  # stateless crons only
        # Midnight on 1 January in Paris is 23:00 UTC on 31 December.
        assert parse(cron["next_run_date"]) == next_firing(NEW_YEAR, "Europe/Paris")
        assert parse(cron["next_run_date"]).hour == 23
        assert cron["payload"]["input"] == {"items": ["tick"]}
        assert cron["payload"]["assistant_id"] == "simple"
        assert cron["created_at"] == cron["updated_at"]

        # The SDK has no call for it, but the server serves GET /runs/crons/{cron_id}.
        fetched = httpx.get(f"{api_server.url}/runs/crons/{cron['cron_id']}")
        assert (fetched.status_code, fetched.json()) == (200, cron)


def test_stateless_crons_delete_their_threads_unless_asked_to_keep_them(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        default = client.crons.create("simple", schedule=FEBRUARY, metadata=tag)
        assert_cron(default, thread_id=None, schedule=FEBRUARY)
        assert default["on_run_completed"] == "delete"
        assert default["timezone"] == "UTC"
        assert parse(default["next_run_date"]) == next_firing(FEBRUARY)
        kept = client.crons.create(
            AGENT,
            schedule=MARCH,
            metadata=tag,
            on_run_completed="keep",
            enabled=False,
            end_time=datetime(2099, 1, 1, tzinfo=UTC),
        )
        assert (kept["assistant_id"], kept["on_run_completed"], kept["enabled"]) == (
            AGENT,
            "keep",
            False,
        )
        assert parse(kept["end_time"]) == datetime(2099, 1, 1, tzinfo=UTC)
        assert client.crons.count(metadata=tag) == 2


def test_update_changes_only_the_given_fields(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        cron = client.crons.create_for_thread(
            thread_id, "simple", schedule=NEW_YEAR, input={"items": []}, metadata=tag
        )
        cron_id = cron["cron_id"]

        rescheduled = client.crons.update(cron_id, schedule=MARCH, timezone="Asia/Tokyo")
        assert_cron(rescheduled, thread_id=thread_id, schedule=MARCH)
        assert rescheduled["timezone"] == "Asia/Tokyo"
        assert parse(rescheduled["next_run_date"]) == next_firing(MARCH, "Asia/Tokyo")
        assert rescheduled["updated_at"] > cron["updated_at"]
        assert rescheduled["created_at"] == cron["created_at"]
        assert (rescheduled["metadata"], rescheduled["enabled"]) == (tag, True)

        end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
        changed = client.crons.update(
            cron_id,
            enabled=False,
            end_time=end,
            metadata={"k": "v"},
            input={"items": ["new"]},
            interrupt_after=["a"],
        )
        assert changed["enabled"] is False
        assert parse(changed["end_time"]) == end
        assert changed["metadata"] == {**tag, "k": "v"}
        assert changed["payload"]["input"] == {"items": ["new"]}
        assert changed["payload"]["interrupt_after"] == ["a"]
        assert changed["schedule"] == MARCH  # untouched
        assert changed["next_run_date"] == rescheduled["next_run_date"]

        cleared = client.crons.update(cron_id, end_time=None)
        assert cleared["end_time"] is None
        assert cleared["enabled"] is False

        with pytest.raises(BadRequestError, match="stateless"):
            client.crons.update(cron_id, on_run_completed="keep")
        with pytest.raises(BadRequestError, match="at least one field"):
            client.crons.update(cron_id)
        with pytest.raises(UnprocessableEntityError, match="schedule"):
            client.crons.update(cron_id, schedule="every minute")
        with pytest.raises(UnprocessableEntityError, match="timezone"):
            client.crons.update(cron_id, timezone="Mars/Olympus")
        fetched = httpx.get(f"{api_server.url}/runs/crons/{cron_id}").json()
        assert fetched == cleared


def test_search_filters_sorts_pages_and_selects(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        on_thread = client.crons.create_for_thread(
            thread_id, "simple", schedule=MARCH, metadata={**tag, "n": 0}
        )
        stateless = client.crons.create("simple", schedule=NEW_YEAR, metadata={**tag, "n": 1})
        disabled = client.crons.create(
            "agent", schedule=FEBRUARY, metadata={**tag, "n": 2}, enabled=False
        )
        ids = [on_thread["cron_id"], stateless["cron_id"], disabled["cron_id"]]

        newest_first = client.crons.search(metadata=tag)
        assert [c["cron_id"] for c in newest_first] == ids[::-1]
        assert all(set(c) == CRON_KEYS for c in newest_first)
        soonest_first = client.crons.search(metadata=tag, sort_by="next_run_date", sort_order="asc")
        assert [c["schedule"] for c in soonest_first] == [NEW_YEAR, FEBRUARY, MARCH]
        latest_first = client.crons.search(metadata=tag, sort_by="next_run_date", sort_order="desc")
        assert [c["schedule"] for c in latest_first] == [MARCH, FEBRUARY, NEW_YEAR]

        assert [c["cron_id"] for c in client.crons.search(metadata=tag, thread_id=thread_id)] == [
            ids[0]
        ]
        by_graph_name = client.crons.search(metadata=tag, assistant_id="simple")
        assert [c["cron_id"] for c in by_graph_name] == [ids[1], ids[0]]
        assert [c["cron_id"] for c in client.crons.search(metadata=tag, assistant_id=AGENT)] == [
            ids[2]
        ]
        assert [c["cron_id"] for c in client.crons.search(metadata=tag, enabled=False)] == [ids[2]]
        assert [c["cron_id"] for c in client.crons.search(metadata={**tag, "n": 1})] == [ids[1]]

        pages = [
            [c["cron_id"] for c in client.crons.search(metadata=tag, limit=2, offset=o)]
            for o in (0, 2)
        ]
        assert pages == [[ids[2], ids[1]], [ids[0]]]
        selected = client.crons.search(metadata=tag, select=["cron_id", "enabled"])
        assert selected == [
            {"cron_id": ids[2], "enabled": False},
            {"cron_id": ids[1], "enabled": True},
            {"cron_id": ids[0], "enabled": True},
        ]

        assert client.crons.count(metadata=tag) == 3
        assert client.crons.count(metadata=tag, assistant_id="simple") == 2
        assert client.crons.count(metadata=tag, thread_id=thread_id) == 1
        assert client.crons.count(metadata={"e2e": "nobody"}) == 0


def test_delete_removes_the_cron(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        cron = client.crons.create("simple", schedule=NEW_YEAR, metadata=tag)
        assert client.crons.delete(cron["cron_id"]) is None
        assert client.crons.count(metadata=tag) == 0
        assert httpx.get(f"{api_server.url}/runs/crons/{cron['cron_id']}").status_code == 404
        with pytest.raises(NotFoundError):
            client.crons.delete(cron["cron_id"])
        with pytest.raises(NotFoundError):
            client.crons.update(cron["cron_id"], enabled=False)

        thread_id = client.threads.create(metadata=tag)["thread_id"]
        client.crons.create_for_thread(thread_id, "simple", schedule=NEW_YEAR, metadata=tag)
        client.threads.delete(thread_id)  # a thread's crons go with it
        assert client.crons.count(metadata=tag) == 0


def test_bad_input_raises_the_sdks_typed_errors(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        with pytest.raises(UnprocessableEntityError, match="schedule"):
            client.crons.create("simple", schedule="* * *", metadata=tag)
        with pytest.raises(UnprocessableEntityError, match="timezone"):
            client.crons.create("simple", schedule=NEW_YEAR, timezone="Nowhere/Land", metadata=tag)
        with pytest.raises(UnprocessableEntityError, match="on_run_completed"):
            client.crons.create(
                "simple", schedule=NEW_YEAR, on_run_completed="archive", metadata=tag
            )
        with pytest.raises(UnprocessableEntityError, match="registered graphs"):
            client.crons.create("no-such-graph", schedule=NEW_YEAR, metadata=tag)
        with pytest.raises(NotFoundError, match="Assistant"):
            client.crons.create(str(uuid.uuid4()), schedule=NEW_YEAR, metadata=tag)
        with pytest.raises(NotFoundError, match="Thread"):
            client.crons.create_for_thread(
                str(uuid.uuid4()), "simple", schedule=NEW_YEAR, metadata=tag
            )
        with pytest.raises(UnprocessableEntityError, match="thread ID"):
            client.crons.create_for_thread("not-a-uuid", "simple", schedule=NEW_YEAR)
        with pytest.raises(BadRequestError, match="context"):
            client.crons.create_for_thread(
                thread_id,
                "simple",
                schedule=NEW_YEAR,
                config={"configurable": {"a": 1}},
                context={"b": 2},
                metadata=tag,
            )
        with pytest.raises(UnprocessableEntityError, match="cron ID"):
            client.crons.delete("not-a-uuid")
        with pytest.raises(UnprocessableEntityError, match="sort_by"):
            client.crons.search(sort_by="schedule")  # type: ignore[arg-type]
        with pytest.raises(UnprocessableEntityError, match="limit"):
            client.crons.search(limit=0)
        with pytest.raises(UnprocessableEntityError, match="thread_id"):
            client.crons.count(thread_id="nope")
        assert client.crons.count(metadata=tag) == 0


def test_the_async_client(api_server, tag):
    async def scenario() -> None:
        async with get_client(url=api_server.url, api_key=None) as client:
            thread_id = (await client.threads.create(metadata=tag))["thread_id"]
            on_thread = await client.crons.create_for_thread(
                thread_id, "simple", schedule=NEW_YEAR, metadata=tag
            )
            assert_cron(on_thread, thread_id=thread_id, schedule=NEW_YEAR)
            stateless = await client.crons.create("simple", schedule=FEBRUARY, metadata=tag)
            assert_cron(stateless, thread_id=None, schedule=FEBRUARY)
            updated = await client.crons.update(stateless["cron_id"], on_run_completed="keep")
            assert updated["on_run_completed"] == "keep"
            found = await client.crons.search(metadata=tag, sort_by="cron_id", sort_order="asc")
            assert [c["cron_id"] for c in found] == sorted(
                [on_thread["cron_id"], stateless["cron_id"]]
            )
            assert await client.crons.count(metadata=tag) == 2
            await client.crons.delete(on_thread["cron_id"])
            await client.crons.delete(stateless["cron_id"])
            assert await client.crons.count(metadata=tag) == 0
            with pytest.raises(NotFoundError):
                await client.crons.delete(stateless["cron_id"])

    asyncio.run(scenario())


def test_the_api_v1_prefix(api_server, tag):
    with get_sync_client(url=f"{api_server.url}/api/v1", api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        cron = client.crons.create_for_thread(thread_id, "simple", schedule=NEW_YEAR, metadata=tag)
        stateless = client.crons.create("simple", schedule=NEW_YEAR, metadata=tag)
        assert client.crons.update(cron["cron_id"], enabled=False)["enabled"] is False
        assert [c["cron_id"] for c in client.crons.search(metadata=tag)] == [
            stateless["cron_id"],
            cron["cron_id"],
        ]
        assert client.crons.count(metadata=tag) == 2
        fetched = httpx.get(f"{api_server.url}/api/v1/runs/crons/{cron['cron_id']}")
        assert fetched.json()["enabled"] is False
        client.crons.delete(cron["cron_id"])
        client.crons.delete(stateless["cron_id"])
        assert client.crons.count(metadata=tag) == 0
