"""Runs, driven through a live daphne server by the official ``langgraph-sdk`` clients.

No executor runs in these tests, so every run stays ``pending`` until it is cancelled: ``join``
and ``cancel(wait=True)`` are only called on runs that have ended (or end by that very call),
and ``wait`` only where the server refuses the request before it would block. Streaming is not
covered here yet.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableEntityError,
)
from langgraph_sdk.schema import Run, RunCreateMetadata

pytestmark = pytest.mark.e2e

#: The SDK's Run keys (``cancel_reason`` is NotRequired) and what the server adds.
RUN_KEYS = set(Run.__annotations__) - {"cancel_reason"}
SERVER_RUN_KEYS = RUN_KEYS | {"cancel_reason", "kwargs", "attempt"}
SYSTEM_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
SIMPLE = str(uuid.uuid5(SYSTEM_NAMESPACE, "simple"))
AGENT = str(uuid.uuid5(SYSTEM_NAMESPACE, "agent"))


@pytest.fixture
def tag() -> dict[str, str]:
    """Metadata that marks this test's threads (the database is shared)."""
    return {"e2e": uuid.uuid4().hex}


def assert_run(run: object, *, thread_id: str, status: str, assistant_id: str = SIMPLE) -> None:
    assert isinstance(run, dict)
    assert set(run) == SERVER_RUN_KEYS
    assert uuid.UUID(run["run_id"]).version == 7
    assert (run["thread_id"], run["assistant_id"], run["status"]) == (
        thread_id,
        assistant_id,
        status,
    )
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(run[stamp]).utcoffset() is not None


def test_create_get_and_list_on_a_thread(api_server, tag):
    created_metadata: list[RunCreateMetadata] = []
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        run = client.runs.create(
            thread_id,
            "simple",  # a graph name stands for its default assistant
            input={"items": ["x"]},
            metadata={"origin": "e2e"},
            config={"tags": ["t1"], "recursion_limit": 5},
            stream_mode=["values", "updates"],
            interrupt_before=["b"],
            on_run_created=created_metadata.append,
        )
        assert_run(run, thread_id=thread_id, status="pending")
        assert run["multitask_strategy"] == "enqueue"
        assert run["metadata"]["origin"] == "e2e"
        assert run["cancel_reason"] is None
        kwargs = run["kwargs"]
        assert kwargs["input"] == {"items": ["x"]}
        assert kwargs["stream_mode"] == ["values", "updates"]
        assert kwargs["interrupt_before"] == ["b"]
        assert kwargs["config"]["tags"] == ["t1"]
        assert kwargs["config"]["recursion_limit"] == 5
        assert kwargs["temporary"] is False
        assert created_metadata == [{"run_id": run["run_id"], "thread_id": thread_id}]

        assert client.runs.get(thread_id, run["run_id"]) == run
        thread = client.threads.get(thread_id)
        assert thread["status"] == "busy"
        assert (thread["metadata"]["graph_id"], thread["metadata"]["assistant_id"]) == (
            "simple",
            SIMPLE,
        )

        second = client.runs.create(thread_id, AGENT, input={"messages": []})
        assert_run(second, thread_id=thread_id, status="pending", assistant_id=AGENT)
        third = client.runs.create(thread_id, SIMPLE, context={"model": "m"})
        assert third["kwargs"]["context"] == {"model": "m"}
        assert third["kwargs"]["config"]["configurable"] == {"model": "m"}
        ids = [run["run_id"], second["run_id"], third["run_id"]]

        listed = client.runs.list(thread_id)
        assert [r["run_id"] for r in listed] == ids[::-1]
        assert all(set(r) == SERVER_RUN_KEYS for r in listed)
        assert [r["run_id"] for r in client.runs.list(thread_id, limit=2, offset=1)] == [
            ids[1],
            ids[0],
        ]
        client.runs.cancel(thread_id, ids[1])
        assert [r["run_id"] for r in client.runs.list(thread_id, status="interrupted")] == [ids[1]]
        assert [r["run_id"] for r in client.runs.list(thread_id, status="pending")] == [
            ids[2],
            ids[0],
        ]
        selected = client.runs.list(thread_id, select=["run_id", "status"])
        assert selected == [
            {"run_id": ids[2], "status": "pending"},
            {"run_id": ids[1], "status": "interrupted"},
            {"run_id": ids[0], "status": "pending"},
        ]
        client.runs.cancel_many(thread_id=thread_id)
        assert client.threads.get(thread_id)["status"] == "idle"


def test_stateless_runs_get_a_thread_of_their_own(api_server):
    created_metadata: list[RunCreateMetadata] = []
    with get_sync_client(url=api_server.url, api_key=None) as client:
        run = client.runs.create(
            None, "simple", input={"items": []}, on_run_created=created_metadata.append
        )
        assert_run(run, thread_id=run["thread_id"], status="pending")
        assert created_metadata == [{"run_id": run["run_id"], "thread_id": None}]
        assert run["kwargs"]["temporary"] is True  # on_completion="delete" by default
        assert client.runs.get(run["thread_id"], run["run_id"]) == run
        assert client.threads.get(run["thread_id"])["status"] == "busy"

        kept = client.runs.create(None, SIMPLE, on_completion="keep")
        assert kept["kwargs"]["temporary"] is False
        assert kept["thread_id"] != run["thread_id"]
        client.runs.cancel_many(run_ids=[run["run_id"], kept["run_id"]])


def test_if_not_exists_create_makes_the_thread(api_server):
    thread_id = str(uuid.uuid4())
    with get_sync_client(url=api_server.url, api_key=None) as client:
        with pytest.raises(NotFoundError, match=thread_id):
            client.runs.create(thread_id, "simple")
        with pytest.raises(NotFoundError):
            client.threads.get(thread_id)
        run = client.runs.create(thread_id, "simple", if_not_exists="create")
        assert_run(run, thread_id=thread_id, status="pending")
        assert client.threads.get(thread_id)["status"] == "busy"
        client.runs.cancel(thread_id, run["run_id"])


def test_create_batch_makes_stateless_runs(api_server, event_count):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        runs = client.runs.create_batch(
            [
                {"assistant_id": "simple", "input": {"items": ["1"]}},
                {"assistant_id": AGENT, "input": {"messages": []}, "metadata": {"n": 2}},
            ]
        )
        assert [r["assistant_id"] for r in runs] == [SIMPLE, AGENT]
        for run in runs:
            assert_run(
                run, thread_id=run["thread_id"], status="pending", assistant_id=run["assistant_id"]
            )
        assert runs[0]["kwargs"]["input"] == {"items": ["1"]}
        assert runs[1]["metadata"]["n"] == 2
        assert runs[0]["thread_id"] != runs[1]["thread_id"]
        for run in runs:
            assert client.runs.get(run["thread_id"], run["run_id"]) == run

        before = event_count()
        with pytest.raises(UnprocessableEntityError, match="stream_mode"):
            client.runs.create_batch(
                [{"assistant_id": "simple"}, {"assistant_id": "simple", "stream_mode": "loud"}]
            )
        with pytest.raises(NotFoundError):  # all of the batch or none of it
            client.runs.create_batch(
                [{"assistant_id": "simple"}, {"assistant_id": str(uuid.uuid4())}]
            )
        assert event_count() == before
        client.runs.cancel_many(run_ids=[r["run_id"] for r in runs])


def test_multitask_reject_refuses_a_second_run(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        first = client.runs.create(thread_id, "simple")
        with pytest.raises(ConflictError, match="already running a task"):
            client.runs.create(thread_id, "simple", multitask_strategy="reject")
        assert [r["run_id"] for r in client.runs.list(thread_id)] == [first["run_id"]]
        client.runs.cancel(thread_id, first["run_id"])
        # Nothing active any more: reject lets it through.
        second = client.runs.create(thread_id, "simple", multitask_strategy="reject")
        assert second["multitask_strategy"] == "reject"
        client.runs.cancel(thread_id, second["run_id"])


def test_multitask_interrupt_cancels_the_active_run(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        first = client.runs.create(thread_id, "simple")
        second = client.runs.create(thread_id, "simple", multitask_strategy="interrupt")
        assert_run(second, thread_id=thread_id, status="pending")
        assert second["multitask_strategy"] == "interrupt"
        superseded = client.runs.get(thread_id, first["run_id"])
        assert superseded["status"] == "interrupted"
        assert second["run_id"] in superseded["cancel_reason"]
        assert client.threads.get(thread_id)["status"] == "busy"
        client.runs.cancel(thread_id, second["run_id"])


def test_multitask_rollback_deletes_the_active_run(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        first = client.runs.create(thread_id, "simple")
        second = client.runs.create(thread_id, "simple", multitask_strategy="rollback")
        with pytest.raises(NotFoundError):
            client.runs.get(thread_id, first["run_id"])
        assert [r["run_id"] for r in client.runs.list(thread_id)] == [second["run_id"]]
        client.runs.cancel(thread_id, second["run_id"])


def test_multitask_enqueue_queues_behind_the_active_run(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        first = client.runs.create(thread_id, "simple")
        second = client.runs.create(thread_id, "simple", multitask_strategy="enqueue")
        assert [(r["run_id"], r["status"]) for r in client.runs.list(thread_id)] == [
            (second["run_id"], "pending"),
            (first["run_id"], "pending"),
        ]
        client.runs.cancel_many(thread_id=thread_id, action="rollback")
        assert client.runs.list(thread_id) == []


def test_cancel_interrupts_or_rolls_back_and_delete_needs_an_ended_run(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        run = client.runs.create(thread_id, "simple")
        with pytest.raises(ConflictError, match="cancel it before deleting it"):
            client.runs.delete(thread_id, run["run_id"])

        assert client.runs.cancel(thread_id, run["run_id"]) is None
        cancelled = client.runs.get(thread_id, run["run_id"])
        assert cancelled["status"] == "interrupted"
        assert cancelled["cancel_reason"]
        assert cancelled["updated_at"] > run["updated_at"]
        assert client.threads.get(thread_id)["status"] == "idle"
        with pytest.raises(ConflictError):
            client.runs.cancel(thread_id, run["run_id"])

        assert client.runs.delete(thread_id, run["run_id"]) is None
        with pytest.raises(NotFoundError):
            client.runs.get(thread_id, run["run_id"])
        with pytest.raises(NotFoundError):
            client.runs.delete(thread_id, run["run_id"])

        rolled_back = client.runs.create(thread_id, "simple")
        assert client.runs.cancel(thread_id, rolled_back["run_id"], action="rollback") is None
        with pytest.raises(NotFoundError):
            client.runs.get(thread_id, rolled_back["run_id"])
        assert client.runs.list(thread_id) == []

        other_thread = client.threads.create(metadata=tag)["thread_id"]
        elsewhere = client.runs.create(other_thread, "simple")
        with pytest.raises(NotFoundError):  # a run is only found under its own thread
            client.runs.get(thread_id, elsewhere["run_id"])
        with pytest.raises(NotFoundError):
            client.runs.cancel(thread_id, elsewhere["run_id"])
        client.runs.cancel(other_thread, elsewhere["run_id"])


def test_join_and_cancel_with_wait_return_once_the_run_has_ended(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        run = client.runs.create(thread_id, "simple", input={"items": ["x"]})
        # cancel(wait=True) stops the run, then answers with its final values.
        assert client.runs.cancel(thread_id, run["run_id"], wait=True) == {}
        assert client.runs.get(thread_id, run["run_id"])["status"] == "interrupted"
        assert client.runs.join(thread_id, run["run_id"]) == {}

        rolled_back = client.runs.create(thread_id, "simple")
        assert (
            client.runs.cancel(thread_id, rolled_back["run_id"], wait=True, action="rollback") == {}
        )

        with pytest.raises(httpx.HTTPStatusError) as error:  # request_reconnect: untyped
            client.runs.join(thread_id, rolled_back["run_id"])
        assert error.value.response.status_code == 404


def test_cancel_many_by_thread_run_ids_or_status(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        threads = [client.threads.create(metadata=tag)["thread_id"] for _ in range(3)]
        runs = [client.runs.create(thread_id, "simple") for thread_id in threads]

        assert client.runs.cancel_many(thread_id=threads[0]) is None
        assert client.runs.get(threads[0], runs[0]["run_id"])["status"] == "interrupted"
        assert client.runs.get(threads[1], runs[1]["run_id"])["status"] == "pending"

        client.runs.cancel_many(run_ids=[runs[1]["run_id"]], action="rollback")
        with pytest.raises(NotFoundError):
            client.runs.get(threads[1], runs[1]["run_id"])

        client.runs.cancel_many(status="pending")
        assert client.runs.get(threads[2], runs[2]["run_id"])["status"] == "interrupted"
        assert client.threads.count(metadata=tag, status="busy") == 0

        with pytest.raises(NotFoundError):  # nothing active matched (LangGraph's 404)
            client.runs.cancel_many(thread_id=threads[2])
        with pytest.raises(UnprocessableEntityError, match="status"):
            client.runs.cancel_many(thread_id=threads[2], status="all")
        with pytest.raises(UnprocessableEntityError):
            client.runs.cancel_many()


def test_bad_input_raises_the_sdks_typed_errors(api_server, tag, event_count):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        before = event_count()
        with pytest.raises(NotFoundError):
            client.runs.create(str(uuid.uuid4()), "simple")
        with pytest.raises(NotFoundError, match="Assistant"):
            client.runs.create(thread_id, str(uuid.uuid4()))
        with pytest.raises(UnprocessableEntityError, match="registered graphs"):
            client.runs.create(thread_id, "no-such-graph")
        with pytest.raises(UnprocessableEntityError, match="thread ID"):
            client.runs.create("not-a-uuid", "simple")
        with pytest.raises(BadRequestError, match="context"):
            client.runs.create(
                thread_id, "simple", config={"configurable": {"a": 1}}, context={"b": 2}
            )
        with pytest.raises(BadRequestError, match="thread_id"):
            client.runs.create(None, "simple", command={"resume": "yes"})
        with pytest.raises(UnprocessableEntityError, match="stream_mode"):
            client.runs.create(thread_id, "simple", stream_mode="everything")
        with pytest.raises(UnprocessableEntityError, match="multitask_strategy"):
            client.runs.create(thread_id, "simple", multitask_strategy="ignore")
        with pytest.raises(UnprocessableEntityError, match="checkpoint_id"):
            client.runs.create(thread_id, "simple", checkpoint_id="latest")
        with pytest.raises(UnprocessableEntityError, match="interrupt_before"):
            client.runs.create(thread_id, "simple", interrupt_before="a")
        with pytest.raises(UnprocessableEntityError, match="recursion_limit"):
            client.runs.create(thread_id, "simple", config={"recursion_limit": 0})
        with pytest.raises(UnprocessableEntityError, match="webhook"):
            client.runs.create(thread_id, "simple", webhook="not a url")
        with pytest.raises(UnprocessableEntityError, match="assistant_id"):
            client.runs.create_batch([{"input": {}}])
        with pytest.raises(UnprocessableEntityError, match="action"):  # checked before the lookup
            client.runs.cancel(thread_id, str(uuid.uuid4()), action="explode")  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            client.runs.get(thread_id, str(uuid.uuid4()))
        with pytest.raises(UnprocessableEntityError, match="run ID"):
            client.runs.get(thread_id, "not-a-uuid")
        with pytest.raises(NotFoundError):
            client.runs.list(str(uuid.uuid4()))
        with pytest.raises(UnprocessableEntityError, match="status"):
            client.runs.list(thread_id, status="sleeping")  # type: ignore[arg-type]
        with pytest.raises(UnprocessableEntityError, match="limit"):
            client.runs.list(thread_id, limit=0)

        # wait/join/cancel(wait=True) go through the SDK's reconnecting request: plain errors.
        for call, status in (
            (lambda: client.runs.wait(str(uuid.uuid4()), "simple"), 404),
            (lambda: client.runs.wait(None, "no-such-graph"), 422),
            (lambda: client.runs.wait(thread_id, "simple", multitask_strategy="x"), 422),
            (lambda: client.runs.join(thread_id, str(uuid.uuid4())), 404),
            (lambda: client.runs.cancel(thread_id, str(uuid.uuid4()), wait=True), 404),
        ):
            with pytest.raises(httpx.HTTPStatusError) as error:
                call()
            assert error.value.response.status_code == status
            assert set(error.value.response.json()) == {"detail"}
        assert event_count() == before
        assert client.runs.list(thread_id) == []


def test_the_async_client(api_server, tag):
    async def scenario() -> None:
        async with get_client(url=api_server.url, api_key=None) as client:
            thread_id = (await client.threads.create(metadata=tag))["thread_id"]
            run = await client.runs.create(thread_id, "simple", input={"items": ["a"]})
            assert_run(run, thread_id=thread_id, status="pending")
            assert await client.runs.get(thread_id, run["run_id"]) == run
            assert [r["run_id"] for r in await client.runs.list(thread_id)] == [run["run_id"]]
            with pytest.raises(ConflictError):
                await client.runs.create(thread_id, "simple", multitask_strategy="reject")

            assert await client.runs.cancel(thread_id, run["run_id"], wait=True) == {}
            assert await client.runs.join(thread_id, run["run_id"]) == {}
            assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "interrupted"
            await client.runs.delete(thread_id, run["run_id"])
            with pytest.raises(NotFoundError):
                await client.runs.get(thread_id, run["run_id"])

            batch = await client.runs.create_batch([{"assistant_id": "simple"}] * 2)
            assert [r["status"] for r in batch] == ["pending", "pending"]
            stateless = await client.runs.create(None, "simple")
            assert await client.runs.cancel(stateless["thread_id"], stateless["run_id"]) is None
            await client.runs.cancel_many(run_ids=[r["run_id"] for r in batch])
            for r in batch:
                got = await client.runs.get(r["thread_id"], r["run_id"])
                assert got["status"] == "interrupted"
            with pytest.raises(NotFoundError):
                await client.runs.cancel_many(run_ids=[r["run_id"] for r in batch])

    asyncio.run(scenario())


def test_the_api_v1_prefix(api_server, tag):
    created_metadata: list[RunCreateMetadata] = []
    with get_sync_client(url=f"{api_server.url}/api/v1", api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        run = client.runs.create(thread_id, "simple", on_run_created=created_metadata.append)
        assert created_metadata == [{"run_id": run["run_id"], "thread_id": thread_id}]
        assert client.runs.get(thread_id, run["run_id"]) == run
        assert [r["run_id"] for r in client.runs.list(thread_id)] == [run["run_id"]]
        assert client.runs.cancel(thread_id, run["run_id"], wait=True) == {}
        assert client.runs.join(thread_id, run["run_id"]) == {}
        client.runs.delete(thread_id, run["run_id"])
        batch = client.runs.create_batch([{"assistant_id": "simple"}])
        client.runs.cancel_many(run_ids=[batch[0]["run_id"]])
        assert client.runs.get(batch[0]["thread_id"], batch[0]["run_id"])["status"] == (
            "interrupted"
        )
