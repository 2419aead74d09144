"""A graph whose subgraph is a ``RemoteGraph`` (another deployment's graph, the e2e
``delegating`` graph) through the assistant routes: its schemas, its drawing and its subgraphs
answer; drawing with ``xray``, which asks the other deployment, says clearly when that one does
not answer (port 9 here: nothing listens), never a 500. Running it: tests/e2e/test_remote_graph.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from assistants import graphs
from assistants import services as assistant_services

pytestmark = pytest.mark.django_db

DELEGATING = f"{Path(__file__).resolve().parents[2] / 'e2e' / 'graphs.py'}:delegating"


@pytest.fixture
def delegating(settings):
    settings.DURAGRAPH_GRAPHS = {"delegating": DELEGATING}
    graphs.registry.cache_clear()
    yield assistant_services.assistant_create(graph_id="delegating")
    graphs.registry.cache_clear()


def test_a_remote_subgraph_is_described_and_drawn_without_asking_its_deployment(delegating):
    api = APIClient()
    base = f"/assistants/{delegating.assistant_id}"
    schemas = api.get(f"{base}/schemas")
    assert schemas.status_code == 200 and schemas.json()["input_schema"]["title"] == "Delegated"
    drawn = api.get(f"{base}/graph")
    assert drawn.status_code == 200
    assert [node["id"] for node in drawn.json()["nodes"]] == [
        "__start__",
        "remote",
        "local",
        "__end__",
    ]
    subgraphs = api.get(f"{base}/subgraphs")
    assert subgraphs.status_code == 200 and list(subgraphs.json()) == ["remote"]


def test_drawing_a_remote_subgraph_with_xray_when_its_deployment_is_down_is_a_502(delegating):
    answer = APIClient().get(f"/assistants/{delegating.assistant_id}/graph", {"xray": "true"})
    assert answer.status_code == 502
    assert "remote subgraph" in answer.json()["detail"]
