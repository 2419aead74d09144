"""Property-based fuzzing of the live server from the OpenAPI document it serves (schemathesis).

The server runs with authentication on, as in production; every request carries an API key of
a tenant of the test's own that may call every route. For each operation of ``/openapi.json``,
schemathesis generates requests from the schema, valid
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

Every integer and number a request can carry is bounded in the document (``minimum`` and
``maximum``, PostgreSQL's ``bigint`` at most), so the positive cases reach the largest values
the database takes and the negative ones go past them. Three families of requests are not left
to chance, because schemathesis' generation phases used here do not make them: a number far
beyond its bound in every numeric field (422 naming it), a multipart body to every operation
that takes one (415), and every method a path does not document, plus one nobody knows (405
with ``Allow``). Each must be JSON ``{"detail"}``.

schemathesis' own pytest loader for schemas known only at run time
(``schemathesis.pytest.from_fixture``) does not work with pytest 9.2 (it sets
``Function._nodeid``), so each test drives its operation's Hypothesis strategy itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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

from tests.e2e.processes import start_api_server

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
    "protocol_thread_events_post",
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


def _document() -> dict[str, Any]:
    """The OpenAPI document, generated in process (no server needed to collect)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


DOCUMENT = _document()
ALL_OPERATIONS = sorted(
    operation["operationId"]
    for path_item in DOCUMENT["paths"].values()
    for operation in path_item.values()
)
FUZZED_OPERATIONS = [op for op in ALL_OPERATIONS if op not in BLOCKING_OPERATIONS]
#: (path, method, operation) of every documented operation.
OPERATIONS = [
    (path, method.upper(), operation)
    for path, path_item in DOCUMENT["paths"].items()
    for method, operation in path_item.items()
]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _numeric_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The integer/number branches of a property's schema (``anyOf``/``oneOf`` included)."""
    schema = _resolve(schema)
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    found = [schema] if {"integer", "number"} & set(types) else []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        found += _numeric_schemas(branch)
    return found


def _numeric_inputs() -> list[tuple[str, str, str, str, str, list[dict[str, Any]]]]:
    """(operation id, path, method, ``body``/``query``, name, schemas) of every number a
    request carries: query parameters and top-level body properties."""
    inputs = []
    for path, method, operation in OPERATIONS:
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and (found := _numeric_schemas(parameter["schema"])):
                inputs.append(
                    (operation["operationId"], path, method, "query", parameter["name"], found)
                )
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        schema = _resolve(body["schema"])
        if schema.get("type") == "array":
            schema = _resolve(schema["items"])
        for name, prop in schema.get("properties", {}).items():
            if found := _numeric_schemas(prop):
                inputs.append((operation["operationId"], path, method, "body", name, found))
    return inputs


NUMERIC_INPUTS = _numeric_inputs()


@dataclass
class FuzzedServer:
    url: str
    key: str


@pytest.fixture(scope="module")
def api_server(server_env, system_assistants, tmp_path_factory, django_db_blocker):
    """daphne with authentication on, as in production, and a key of a tenant of its own that
    may call every route (the API and the worker protocol): the fuzzing goes past the door."""
    from accounts import domain, services

    env = {**server_env, "AUTH_ENABLED": "true"}
    process, url = start_api_server("fuzzed-api", env, tmp_path_factory.mktemp("fuzz"))
    with django_db_blocker.unblock():
        _, key = services.create_api_key(
            name="fuzzing", tenant=f"fuzz-{uuid.uuid4().hex[:8]}", scopes=domain.SCOPES
        )
    yield FuzzedServer(url=url, key=key)
    process.stop()


@pytest.fixture(scope="module")
def api_schema(api_server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")


@pytest.fixture(scope="module")
def session(api_server) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["x-api-key"] = api_server.key
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


# -- the requests schemathesis does not make here -------------------------------------------
HUGE = 10**20
#: The rest of a valid body, for operations that check their numbers only once the body is
#: otherwise valid (the store checks ``ttl`` in its domain rules, after the fields).
BASE_BODIES: dict[str, dict[str, Any]] = {
    "store_put_item": {"namespace": ["fuzz"], "key": "k", "value": {}},
    "protocol_thread_events_post": {"channels": ["values"]},
}
#: Methods a client may try; each path must refuse those it does not document.
PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "FOOBAR")


def _url(base: str, path: str, existing_ids: dict[str, str]) -> str:
    """*path* with its parameters filled: real records where known, else made-up values."""
    for name in ("assistant_id", "thread_id", "run_id", "cron_id"):
        path = path.replace(f"{{{name}}}", existing_ids[name])
    for placeholder in (
        "{worker_id}",
        "{graph_id}",
        "{namespace}",
        "{checkpoint_id}",
        "{workflow_id}",
        "{job_id}",
        "{prompt_id}",
    ):
        path = path.replace(placeholder, "fuzz")
    path = path.replace("{lease_id}", str(uuid.uuid4()))
    assert "{" not in path, path
    return f"{base}{path}"


def assert_json_refusal(response: requests.Response, status: int) -> str:
    assert response.status_code == status, (response.request.method, response.url, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    return body["detail"]


def test_every_number_a_request_carries_is_bounded_in_the_document():
    unbounded = [
        (operation_id, location, name)
        for operation_id, _, _, location, name, schemas in NUMERIC_INPUTS
        for schema in schemas
        if "maximum" not in schema or ("minimum" not in schema and "exclusiveMinimum" not in schema)
    ]
    assert NUMERIC_INPUTS and not unbounded
    assert all(
        -(2**63) <= schema.get("minimum", 0) and schema["maximum"] <= 2**63 - 1
        for *_, schemas in NUMERIC_INPUTS
        for schema in schemas
    )


@pytest.mark.parametrize(
    ("operation_id", "path", "method", "location", "name", "schemas"),
    NUMERIC_INPUTS,
    ids=[f"{op}-{location}-{name}" for op, _, _, location, name, _ in NUMERIC_INPUTS],
)
def test_a_number_beyond_its_bound_is_422_naming_it(
    api_server, session, existing_ids, operation_id, path, method, location, name, schemas
):
    for value in (HUGE, -HUGE):
        body: Any = None
        params = None
        if location == "query":
            params = {name: str(value)}
        else:
            body = {**BASE_BODIES.get(operation_id, {}), name: value}
            if operation_id == "runs_batch":
                body = [body]
        response = session.request(
            method,
            _url(api_server.url, path, existing_ids),
            params=params,
            json=body,
            timeout=30,
        )
        assert name in assert_json_refusal(response, 422)


@pytest.mark.parametrize(
    ("path", "method"),
    [(path, method) for path, method, operation in OPERATIONS if "requestBody" in operation],
)
def test_a_multipart_body_is_415(api_server, session, existing_ids, path, method):
    response = session.request(
        method,
        _url(api_server.url, path, existing_ids),
        files={"field": ("file.txt", b"content", "text/plain")},
        timeout=30,
    )
    assert "Unsupported media type" in assert_json_refusal(response, 415)


@pytest.mark.parametrize("path", list(DOCUMENT["paths"]))
def test_an_undocumented_method_is_405_with_allow(api_server, session, existing_ids, path):
    documented = {method.upper() for method in DOCUMENT["paths"][path]}
    for method in sorted(set(PROBED_METHODS) - documented):
        response = session.request(
            method, _url(api_server.url, path, existing_ids), json={}, timeout=30
        )
        assert method in assert_json_refusal(response, 405)
        allowed = set(response.headers["allow"].split(", "))
        assert documented <= allowed <= documented | {"HEAD", "OPTIONS"}, (method, allowed)


def test_an_undocumented_path_is_404_json(api_server, session):
    for path in ("/nope", f"/threads/{uuid.uuid4()}/nope", "/api/v1/nope"):
        for method in PROBED_METHODS:
            response = session.request(method, f"{api_server.url}{path}", timeout=30)
            assert assert_json_refusal(response, 404) == "Not Found"
