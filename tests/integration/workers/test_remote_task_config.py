"""A remote run's task carries the config the built-in executor would run it with: the
assistant's config, context and metadata merged with the run's (``workers.config``), over the
worker protocol's HTTP routes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from assistants.models import Assistant
from runs.models import Run
from workers import config as run_config

pytestmark = pytest.mark.django_db

BASE = "/api/v1/workers"
HELLO = {
    "graph_id": "hello_world",
    "nodes": [{"id": "greet", "type": "function", "config": {"is_entrypoint": True}}],
    "edges": [],
    "entry_point": "greet",
}


def test_a_remote_task_carries_the_assistant_s_config_merged_with_the_run_s():
    api = APIClient()
    body = {
        "worker_id": "w1",
        "capabilities": {"graphs": ["hello_world"]},
        "graph_definitions": [HELLO],
    }
    assert api.post(f"{BASE}/register", body, format="json").status_code == 200
    assistant = api.post(
        "/api/v1/assistants",
        {
            "graph_id": "hello_world",
            "config": {"tags": ["blue"], "recursion_limit": 7},
            "context": {"model": "m-1", "temperature": 0.1},
            "metadata": {"team": "a"},
        },
        format="json",
    ).json()
    thread = api.post("/api/v1/threads", {}, format="json").json()
    run = api.post(
        f"/api/v1/threads/{thread['thread_id']}/runs",
        {
            "assistant_id": assistant["assistant_id"],
            "input": {"name": "Django"},
            "config": {"recursion_limit": 9, "configurable": {"temperature": 0.5}},
            "metadata": {"request": "r-1"},
        },
        format="json",
    ).json()

    response = api.post(f"{BASE}/w1/poll", {"max_tasks": 1}, format="json")
    assert response.status_code == 200, response.content
    [task] = response.json()["tasks"]
    config = task["config"]
    assert config["tags"] == ["blue"]  # the assistant's
    assert config["recursion_limit"] == 9  # the run's wins
    assert config["configurable"] == {
        "model": "m-1",  # the assistant's context
        "temperature": 0.5,  # the run's wins
        "thread_id": thread["thread_id"],
        "run_id": run["run_id"],
        "assistant_id": assistant["assistant_id"],
        "graph_id": "hello_world",
    }
    assert config["metadata"]["team"] == "a" and config["metadata"]["request"] == "r-1"
    assert config["metadata"]["run_attempt"] == 1 and config["run_name"] == "hello_world"
    # Exactly what the built-in executor would give the graph.
    assert config == run_config.effective_config(
        Assistant.objects.get(pk=assistant["assistant_id"]), Run.objects.get(pk=run["run_id"])
    )
