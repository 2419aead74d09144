"""The DuraGraph SDK's own clients (``duragraph==0.3.3``: ``DuraGraphClient`` and
``AsyncDuraGraphClient``, every method, tests/e2e/duragraph_client.py) and its CLI
(``deploy``, ``dev``, ``status``, ``logs``), unchanged, against a real daphne with an executor:
each call answers what the original server answered (``/api/v1`` routes, its fields kept: an
assistant's ``model`` and ``instructions``, a store item's ``ttl_seconds``, a cron's
``payload``); and its ``PromptStore`` keeps versioned prompts (``/api/v1/prompts``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from django.utils import timezone

from tests.e2e.processes import ROOT, sdk_python, start, start_executor, wait_for

pytestmark = pytest.mark.e2e

DRIVER = Path(__file__).with_name("duragraph_client.py")
#: A file of @Graph classes (the remote-worker tests' worker), for ``duragraph deploy``.
GRAPHS_FILE = Path(__file__).with_name("remote_worker.py")


def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The SDK's ``duragraph`` command, from its own virtualenv."""
    command = [str(sdk_python().parent / "duragraph"), *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def server(api_server, tmp_path_factory):
    env = {**api_server.env, "DURAGRAPH_EXECUTOR_GRAPHS": "simple"}  # not "agent"
    executor = start_executor(env, tmp_path_factory.mktemp("dg-client"), name="dg")
    yield api_server
    executor.stop()


@pytest.fixture
def langgraph(server):
    """The official langgraph-sdk, to look at what the DuraGraph client did."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server.url, api_key=None)
    yield client
    client.http.client.close()


@pytest.fixture(scope="module")
def answers(server) -> dict[str, dict]:
    done = subprocess.run(
        [str(sdk_python()), str(DRIVER), server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    calls = [json.loads(line) for line in done.stdout.splitlines()]
    return {call["call"]: call for call in calls}


def answer(answers: dict[str, dict], call: str):
    assert "error" not in answers[call], answers[call]
    return answers[call]["answer"]


def test_every_call_of_both_clients_succeeds(answers):
    failed = {name: call for name, call in answers.items() if "error" in call}
    assert failed == {}
    assert answer(answers, "uncalled") == {"DuraGraphClient": [], "AsyncDuraGraphClient": []}


def test_the_original_servers_routes_answer_as_it_did(answers):
    assistant = answer(answers, "create_assistant")
    listed = answer(answers, "list_assistants")
    assert assistant["assistant_id"] in [a["assistant_id"] for a in listed["assistants"]]
    assert listed["total"] >= len(listed["assistants"]) >= 1
    thread_id = answer(answers, "ids")["thread_id"]
    threads = answer(answers, "list_threads")
    assert thread_id in [t["thread_id"] for t in threads["threads"]] and threads["total"] >= 1
    by_thread = answer(answers, "get_run")
    assert answer(answers, "get_run without its thread") == by_thread
    assert by_thread["status"] == "success"
    assert answer(answers, "join_run") == {"items": ["a", "b"]}
    assert answer(answers, "cancel_run") == {}, "a JSON body, as the client decodes one"
    assert answer(answers, "get_run (cancelled)")["status"] == "interrupted"
    assert answer(answers, "async cancel_run") == {}
    for deleted in ("delete_store_item", "delete_cron", "delete_thread", "delete_assistant"):
        assert answer(answers, deleted) == {}, deleted
    assert answer(answers, "put_store_item") == {}
    assert answer(answers, "wait_for_run") == {"items": ["w", "a", "b"]}


def test_the_prompt_store_keeps_versions_and_lists_them(answers):
    first = answer(answers, "create_prompt")
    assert (first["prompt_id"], first["version"], first["content"]) == (
        "dg-client/classify_intent",
        "1",
        "Classify: {text}",
    )
    assert first["tags"] == ["dg-client"] and first["metadata"] == {"owner": "dg-client"}
    assert answer(answers, "get_prompt") == first
    second = answer(answers, "create_version")
    assert (second["version"], second["change_log"]) == ("2", "clearer")
    assert answer(answers, "get_prompt (cached)") == first, "the client's own cache"
    assert answer(answers, "get_prompt (latest)") == second
    assert answer(answers, "get_prompt (version 1)") == first
    for listing in ("list_prompts (namespace)", "list_prompts (tag)"):
        listed = answer(answers, listing)
        assert [(p["prompt_id"], p["latest_version"]) for p in listed] == [
            ("dg-client/classify_intent", "2")
        ], listing
    assert answer(answers, "get_prompt (variant)")["status"] == 404
    missing = answer(answers, "get_prompt (missing)")
    assert missing == {"status": 404, "body": {"detail": "Prompt 'dg-client/missing' not found"}}
    assert answer(answers, "create_prompt (again)")["status"] == 409


def test_the_fields_it_sends_are_kept(answers, server, django_db_blocker):
    assistant = answer(answers, "create_assistant")
    assert assistant["context"] == {"model": "gpt-test", "instructions": "Be brief."}
    assert assistant["metadata"] == {"team": "dg-client"}
    assert answer(answers, "update_assistant")["context"] == assistant["context"]
    from store.models import Item

    with django_db_blocker.unblock():
        kept = Item.objects.get(namespace=["dg-client", "notes"], key="k2")
        assert kept.ttl.total_seconds() == 90, "ttl_seconds, in seconds"
        Item.objects.filter(namespace__0="dg-client").delete()


def test_a_cron_made_by_the_client_runs_with_its_payload_as_input(
    answers, langgraph, django_db_blocker
):
    from runs import crons
    from runs.models import Cron

    made = answer(answers, "ids")["cron"]
    assert made["payload"]["input"] == {"items": ["from the cron"]}
    with django_db_blocker.unblock():
        Cron.objects.filter(cron_id=made["cron_id"]).update(next_run_date=timezone.now())
        [run_id] = crons.crons_fire_due()
    thread_id = answer(answers, "ids")["thread_id"]
    assert langgraph.runs.join(thread_id, str(run_id))["items"][-3:] == ["from the cron", "a", "b"]


@pytest.mark.parametrize(
    "command, name",
    [
        (["deploy", "--worker-name", "dg-cli-worker"], "dg-cli-worker"),
        (["dev", "--port", "18765", "--no-reload"], "dev-worker-18765"),
    ],
    ids=["deploy", "dev"],
)
def test_the_cli_runs_a_worker_that_serves_runs_and_status_and_logs_show_it(
    server, langgraph, tmp_path, command, name
):
    verb, *options = command
    argv = [str(sdk_python().parent / "duragraph"), verb, str(GRAPHS_FILE)]
    deployed = start(name, [*argv, "--control-plane", server.url, *options], server.env, tmp_path)
    try:
        wait_for(
            lambda: f"{name}: online" in cli("status", "--control-plane", server.url).stdout,
            timeout=60,
            what="the deployed worker to be online",
        )
        status = cli("status", "--control-plane", server.url)
        assert status.returncode == 0 and "Status: healthy" in status.stdout
        [line] = [line for line in status.stdout.splitlines() if f"{name}:" in line]
        assert "remote_hello" in line, status.stdout
        thread = langgraph.threads.create()
        values = langgraph.runs.wait(thread["thread_id"], "remote_hello", input={"name": "CLI"})
        assert values["greeting"] == "Hello, CLI!"
        [run] = langgraph.runs.list(thread["thread_id"])
        logs = cli("logs", "--control-plane", server.url, "--worker", name)
        assert logs.returncode == 0, logs.stdout
        printed = [line.split(" ", 2)[1:] for line in logs.stdout.splitlines()]
        assert printed[-2:] == [
            ["INFO", f"[{name}] run {run['run_id']} started (lease 1)"],
            ["INFO", f"[{name}] run {run['run_id']} succeeded"],
        ]
    finally:
        deployed.stop()
