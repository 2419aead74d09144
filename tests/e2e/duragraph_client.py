"""Every method of the DuraGraph SDK's clients (``duragraph==0.3.3``: ``DuraGraphClient`` and
``AsyncDuraGraphClient``), called as their users call them, against the server at ``argv[1]``.

It runs in the SDK's own virtualenv (``tests/e2e/processes.sdk_python``), never in the
project's. It asserts nothing: it prints one JSON line per call, ``{"call", "answer"}`` or
``{"call", "error", "status", "body"}``, in order, for tests/e2e/test_duragraph_client.py to
judge. Calls that need an earlier answer (an id) use it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
from duragraph.client import AsyncDuraGraphClient, DuraGraphClient
from duragraph.prompts import PromptStore

GRAPH = "simple"  # tests/e2e/graphs.py: items, two nodes appending "a" then "b"
UNSERVED = "agent"  # a graph the test's executor does not run


#: The clients' methods called, by client class.
CALLED: dict[str, set[str]] = {"DuraGraphClient": set(), "AsyncDuraGraphClient": set()}


def uncalled() -> dict[str, list[str]]:
    """Public methods of each client that no call above used."""
    return {
        client.__name__: sorted(
            name
            for name in vars(client)
            if not name.startswith("_") and name != "close" and name not in CALLED[client.__name__]
        )
        for client in (DuraGraphClient, AsyncDuraGraphClient)
    }


def call(name: str, function: Any, /, *args: Any, **kwargs: Any) -> Any:
    CALLED["DuraGraphClient"].add(function.__name__)
    try:
        answer = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the report says what broke
        return report_error(name, error)
    return report(name, answer)


def report(name: str, answer: Any) -> Any:
    print(json.dumps({"call": name, "answer": answer}), flush=True)
    return answer


def report_error(name: str, error: Exception) -> None:
    if isinstance(error, httpx.HTTPStatusError):
        status, body = error.response.status_code, error.response.text[:500]
        line = {"call": name, "error": type(error).__name__, "status": status, "body": body}
    else:
        line = {"call": name, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps(line), flush=True)


def sync_calls(url: str) -> None:
    with DuraGraphClient(url) as client:
        assistant = call(
            "create_assistant",
            client.create_assistant,
            "helper",
            graph_id=GRAPH,
            description="answers briefly",
            model="gpt-test",
            instructions="Be brief.",
            metadata={"team": "dg-client"},
            config={"tags": ["dg"]},
        )
        assistant_id = assistant["assistant_id"]
        call("get_assistant", client.get_assistant, assistant_id)
        call("list_assistants", client.list_assistants, limit=100)
        call("search_assistants", client.search_assistants, metadata={"team": "dg-client"})
        call("update_assistant", client.update_assistant, assistant_id, name="renamed")

        thread = call("create_thread", client.create_thread, metadata={"owner": "dg-client"})
        thread_id = thread["thread_id"]
        call("get_thread", client.get_thread, thread_id)
        call("list_threads", client.list_threads, limit=100)
        call("search_threads", client.search_threads, metadata={"owner": "dg-client"})
        call("update_thread", client.update_thread, thread_id, metadata={"stage": "two"})

        run = call("create_run", client.create_run, thread_id, assistant_id, input={"items": []})
        call("join_run", client.join_run, thread_id, run["run_id"])
        call("get_run", client.get_run, run["run_id"], thread_id=thread_id)
        call("get_run without its thread", client.get_run, run["run_id"])
        call("list_runs", client.list_runs, thread_id)
        # No executor serves this graph: its run stays pending until cancelled.
        other = call("create_thread (another)", client.create_thread)
        waiting = call("create_run (unserved)", client.create_run, other["thread_id"], UNSERVED)
        call("cancel_run", client.cancel_run, other["thread_id"], waiting["run_id"])
        call("get_run (cancelled)", client.get_run, waiting["run_id"])
        call("get_thread_state", client.get_thread_state, thread_id)
        call(
            "update_thread_state",
            client.update_thread_state,
            thread_id,
            values={"items": ["edited"]},
            as_node="b",
        )
        call("get_thread_history", client.get_thread_history, thread_id, limit=10)
        call("create_stateless_run", client.create_stateless_run, assistant_id, input={"items": []})
        call("wait_for_run", client.wait_for_run, assistant_id, input={"items": ["w"]})

        namespace = ["dg-client", "notes"]
        call(
            "put_store_item",
            client.put_store_item,
            namespace,
            "k1",
            {"text": "hello", "kind": "note"},
            ttl_seconds=120,
        )
        call("put_store_item (kept)", client.put_store_item, namespace, "k2", {}, ttl_seconds=90)
        call("get_store_item", client.get_store_item, namespace, "k1")
        call("search_store", client.search_store, ["dg-client"], filter={"kind": "note"})
        call("list_namespaces", client.list_namespaces, prefix=["dg-client"])
        call("delete_store_item", client.delete_store_item, namespace, "k1")

        cron = call(
            "create_cron",
            client.create_cron,
            assistant_id,
            "0 3 * * *",
            thread_id=thread_id,
            payload={"items": ["from the cron"]},
            metadata={"owner": "dg-client"},
        )
        stateless_cron = call(
            "create_cron (stateless)",
            client.create_cron,
            assistant_id,
            "0 4 * * *",
            payload={"items": ["stateless"]},
        )
        call("search_crons", client.search_crons, assistant_id=assistant_id)
        if stateless_cron is not None:  # the thread's cron stays, for the test to fire
            call("delete_cron", client.delete_cron, stateless_cron["cron_id"])

        call("delete_thread", client.delete_thread, other["thread_id"])
        spare = call("create_assistant (spare)", client.create_assistant, "spare", graph_id=GRAPH)
        call("delete_assistant", client.delete_assistant, spare["assistant_id"])
        print(json.dumps({"call": "ids", "answer": {"thread_id": thread_id, "cron": cron}}))


async def async_calls(url: str) -> None:
    async with AsyncDuraGraphClient(url) as client:

        async def call_async(name: str, coroutine: Any) -> Any:
            CALLED["AsyncDuraGraphClient"].add(coroutine.cr_code.co_name)
            try:
                answer = await coroutine
            except Exception as error:  # noqa: BLE001 - the report says what broke
                return report_error(name, error)
            return report(name, answer)

        assistant = await call_async(
            "async create_assistant", client.create_assistant("async helper", graph_id=GRAPH)
        )
        assistant_id = assistant["assistant_id"]
        await call_async("async get_assistant", client.get_assistant(assistant_id))
        await call_async("async list_assistants", client.list_assistants(limit=100))
        await call_async("async search_assistants", client.search_assistants(graph_id=GRAPH))
        thread = await call_async("async create_thread", client.create_thread(metadata={"a": 1}))
        thread_id = thread["thread_id"]
        await call_async("async get_thread", client.get_thread(thread_id))
        run = await call_async("async create_run", client.create_run(thread_id, UNSERVED))
        await call_async("async get_run", client.get_run(run["run_id"], thread_id=thread_id))
        await call_async("async cancel_run", client.cancel_run(thread_id, run["run_id"]))
        await call_async(
            "async wait_for_run", client.wait_for_run(assistant_id, input={"items": ["x"]})
        )
        await call_async("async get_thread_state", client.get_thread_state(thread_id))
        await call_async(
            "async update_thread_state",
            client.update_thread_state(thread_id, values={"items": ["async"]}),
        )
        namespace = ["dg-client", "async"]
        await call_async("async put_store_item", client.put_store_item(namespace, "k", {"v": 1}))
        await call_async("async get_store_item", client.get_store_item(namespace, "k"))
        await call_async("async search_store", client.search_store(["dg-client", "async"]))
        cron = await call_async(
            "async create_cron",
            client.create_cron(assistant_id, "0 5 * * *", payload={"items": ["async cron"]}),
        )
        await call_async("async search_crons", client.search_crons(assistant_id=assistant_id))
        if cron is not None:
            await call_async("async delete_cron", client.delete_cron(cron["cron_id"]))
        await call_async("async delete_thread", client.delete_thread(thread_id))
        await call_async("async delete_assistant", client.delete_assistant(assistant_id))


def refusal(name: str, function: Any, /, *args: Any, **kwargs: Any) -> None:
    """A call expected to be refused: its status and body, as an answer."""
    try:
        answer = function(*args, **kwargs)
    except httpx.HTTPStatusError as error:
        answer = {"status": error.response.status_code, "body": error.response.json()}
    report(name, answer)


def prompt_calls(url: str) -> None:
    """The SDK's ``PromptStore``, as its docstrings use it."""
    prompt_id = "dg-client/classify_intent"
    with PromptStore(url) as prompts:
        report(
            "create_prompt",
            prompts.create_prompt(
                prompt_id,
                "Classify: {text}",
                description="routes tickets",
                tags=["dg-client"],
                metadata={"owner": "dg-client"},
            ),
        )
        report("get_prompt", prompts.get_prompt(prompt_id))
        report(
            "create_version",
            prompts.create_version(prompt_id, "Classify this ticket: {text}", change_log="clearer"),
        )
        report("get_prompt (cached)", prompts.get_prompt(prompt_id))
        prompts.invalidate(prompt_id)
        report("get_prompt (latest)", prompts.get_prompt(prompt_id))
        report("get_prompt (version 1)", prompts.get_prompt(prompt_id, version="1"))
        report("list_prompts (namespace)", prompts.list_prompts(namespace="dg-client"))
        report("list_prompts (tag)", prompts.list_prompts(tag="dg-client"))
        refusal("get_prompt (variant)", prompts.get_prompt, prompt_id, variant="b")
        refusal("get_prompt (missing)", prompts.get_prompt, "dg-client/missing")
        refusal("create_prompt (again)", prompts.create_prompt, prompt_id, "again")


if __name__ == "__main__":
    sync_calls(sys.argv[1])
    prompt_calls(sys.argv[1])
    asyncio.run(async_calls(sys.argv[1]))
    print(json.dumps({"call": "uncalled", "answer": uncalled()}))
