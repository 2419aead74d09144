"""Every operation of LangGraph's API (langgraph-api 0.16.7's OpenAPI document: 64 operations,
listed in tests/e2e/fixtures/langgraph_api_operations.json) is served here: each path resolves
to one of our views and its method is not a 405 (but where LangGraph's answer is a 405: MCP's
GET, a stateless server's)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

OPERATIONS = json.loads(
    (Path(__file__).parents[2] / "e2e" / "fixtures" / "langgraph_api_operations.json").read_text()
)["operations"]
#: LangGraph documents these as answering 405 only.
REFUSED_BY_DESIGN = {("/mcp/", "GET")}


def served(path: str, method: str) -> bool:
    concrete = path.format_map({name: str(uuid.uuid4()) for name in _names(path)})
    try:
        resolve(concrete)
    except Resolver404:
        return False
    answer = APIClient().generic(method, concrete, "{}", "application/json")
    return (answer.status_code == 405) == ((path, method) in REFUSED_BY_DESIGN)


def _names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def test_every_langgraph_operation_is_served():
    assert len(OPERATIONS) == 64
    answered = {(path, method) for path, method in OPERATIONS if served(path, method)}
    assert {tuple(op) for op in OPERATIONS} - answered == set()
