"""Webhook targets through langgraph-sdk against daphne: refused targets are a 422 that writes
nothing. The e2e server allows ``127.0.0.1`` and ``localhost`` (``server_env``), which the
webhook tests of test_execution_sdk.py call; every other non-public target is refused."""

from __future__ import annotations

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import UnprocessableEntityError


@pytest.fixture
def client(api_server):
    client = get_sync_client(url=api_server.url, api_key=None)
    yield client
    client.http.client.close()


@pytest.mark.parametrize(
    "webhook",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://127.0.0.2:8080/hook",  # loopback, not the listed 127.0.0.1
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]:8080/hook",
        "ftp://example.com/hook",
    ],
)
def test_a_refused_webhook_is_a_422_naming_it_that_writes_nothing(client, event_count, webhook):
    thread = client.threads.create()
    before = event_count()
    with pytest.raises(UnprocessableEntityError, match="webhook"):
        client.runs.create(thread["thread_id"], "simple", input={"items": []}, webhook=webhook)
    with pytest.raises(UnprocessableEntityError, match="webhook"):
        client.runs.create(None, "simple", input={"items": []}, webhook=webhook)
    with pytest.raises(UnprocessableEntityError, match="webhook"):
        client.crons.create("simple", schedule="* * * * *", webhook=webhook)
    assert event_count() == before
    assert client.runs.list(thread["thread_id"]) == []


def test_a_listed_host_is_accepted(client):
    thread = client.threads.create()
    run = client.runs.create(
        thread["thread_id"], "simple", input={"items": []}, webhook="http://localhost:9/hook"
    )
    assert run["kwargs"]["webhook"] == "http://localhost:9/hook"
    # Not left pending for the executors of later modules (their calls would be refused).
    client.runs.cancel(thread["thread_id"], run["run_id"])
