"""Property-based fuzzing of the live server from the OpenAPI document it serves (schemathesis).

For each operation of ``/openapi.json``, schemathesis generates requests from the schema, valid
and invalid ones (``GenerationMode.POSITIVE`` and ``NEGATIVE``), at most ``MAX_EXAMPLES`` per
operation, derandomized so CI sees the same requests every run. Valid requests go both to
random ids (404s) and to records that exist (an assistant, a thread with a pending run, a
cron), so the fuzzing reaches past the lookups. Every response must be:

* never a server error (``not_a_server_error``);
* a documented status code (``status_code_conformance``; refusals are documented as ``4XX``);
* of the documented content type and shape (``content_type_conformance``,
  ``response_schema_conformance``).

Excluded, because they block by design until a run ends and no executor runs in the e2e server
(a run stays ``pending``): ``runs_wait`` and ``runs_wait_stateless`` (create a run, then wait
for it) and ``runs_join``.

The operations are listed at collection time from the same OpenAPI generator, in process (one
test per operation); ``test_the_served_document_lists_the_collected_operations`` proves the
served document has exactly those.

schemathesis' own pytest loader for schemas known only at run time
(``schemathesis.pytest.from_fixture``) does not work with pytest 9.2 (it sets
``Function._nodeid``), so each test drives its operation's Hypothesis strategy itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25
BLOCKING_OPERATIONS = {
    "runs_wait",
    "runs_wait_stateless",
    "runs_join",
    # SSE streams: open until their run ends (a thread stream: until the client leaves).
    "runs_stream",
    "runs_stream_stateless",
    "runs_join_stream",
    "runs_join_stream_stateless",
    "threads_join_stream",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def _operation_ids() -> list[str]:
    """The document's operation ids, generated in process (no server needed to collect)."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        operation["operationId"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
    )


ALL_OPERATIONS = _operation_ids()
FUZZED_OPERATIONS = [op for op in ALL_OPERATIONS if op not in BLOCKING_OPERATIONS]


@pytest.fixture(scope="module")
def api_schema(api_server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def existing_ids(api_server, session) -> dict[str, str]:
    """Path parameters naming real records, for the valid requests that should get past 404."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = session.post(f"{api_server.url}{path}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    assistant = post("/assistants", {"graph_id": "simple", "metadata": {"fuzz": True}})
    thread = post("/threads", {"metadata": {"fuzz": True}})
    run = post(f"/threads/{thread['thread_id']}/runs", {"assistant_id": "simple"})
    cron = post("/runs/crons", {"assistant_id": "simple", "schedule": "0 0 1 1 *"})
    return {
        "assistant_id": assistant["assistant_id"],
        "thread_id": thread["thread_id"],
        "run_id": run["run_id"],
        "cron_id": cron["cron_id"],
    }


def test_the_served_document_lists_the_collected_operations(api_schema):
    served = sorted(
        result.ok().definition.raw["operationId"] for result in api_schema.get_all_operations()
    )
    assert served == ALL_OPERATIONS
    assert BLOCKING_OPERATIONS <= set(served)


@pytest.mark.parametrize("operation_id", FUZZED_OPERATIONS)
def test_every_response_is_documented_and_no_server_error(
    api_schema, session, existing_ids, operation_id
):
    operation = api_schema.find_operation_by_id(operation_id)
    strategies = [
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    ]
    if known := {k: v for k, v in existing_ids.items() if f"{{{k}}}" in operation.path}:
        strategies.append(
            operation.as_strategy(schemathesis.GenerationMode.POSITIVE, path_parameters=known)
        )
    cases = st.one_of(strategies)

    @FUZZ_SETTINGS
    @given(case=cases)
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(session=session, checks=CHECKS, timeout=30)

    fuzz()
