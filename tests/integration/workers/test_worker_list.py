"""The worker list answers at ``/api/v1/workers`` with or without the trailing slash: the
DuraGraph CLI (``duragraph status``) and the Go server use the bare path."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from workers import services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/workers", "/api/v1/workers/"])
def test_the_worker_list_answers_with_and_without_the_slash(path):
    services.worker_register(worker_id="w1", kind="remote", graph_ids=["hello_world"])
    response = APIClient().get(path)
    assert response.status_code == 200, response.content
    [listed] = response.json()
    assert (listed["id"], listed["status"], listed["graph_ids"]) == (
        "w1",
        "online",
        ["hello_world"],
    )


def test_the_bare_path_is_documented_once():
    document = APIClient().get("/openapi.json").json()
    assert "/api/v1/workers/" in document["paths"] and "/api/v1/workers" not in document["paths"]
