"""LangGraph custom auth, end to end: LangGraph's documented ``auth.py`` ("Make conversations
private": bearer tokens ``user1-token``/``user2-token``, one ``@auth.on`` handler that adds
``owner`` to every object's metadata and returns ``{"owner": <identity>}``), unchanged, named
by a ``langgraph.json``; daphne and a Celery executor started with ``DURAGRAPH_CONFIG`` pointing
at it and ``AUTH_ENABLED=true``; two users driving the unchanged ``langgraph-sdk`` through the
scenario of :mod:`tests.e2e.custom_auth_scenario`: threads, runs, streams, assistants, crons,
store. The outcomes must equal those ``langgraph dev`` gave with the same ``auth.py``
(``tests/e2e/fixtures/custom_auth_reference.json``, recorded by
``tests/e2e/record_reference_custom_auth.py``), except where documented (docs/auth.md):

- copying another user's thread: the reference answers 409 (telling the caller the thread
  exists), we answer 404, as for every object the handler's filters exclude;
- no credential at all: the documented handler's ``assert authorization`` fails; the reference
  answers 500, we answer 401.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import custom_auth_scenario
from tests.e2e.processes import start_api_server, start_executor

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = FIXTURES / "custom_auth" / "langgraph.json"
REFERENCE = FIXTURES / "custom_auth_reference.json"

#: Where we answer differently from the reference, on purpose (docs/auth.md).
DEVIATIONS = {
    "u2 copy t1": ({"status": 409}, {"status": 404}),
    "anonymous search threads": ({"status": 500}, {"status": 401}),
}


@pytest.fixture(scope="module")
def server(server_env, system_assistants, django_db_blocker, tmp_path_factory) -> Iterator[str]:
    env = {
        **server_env,
        "AUTH_ENABLED": "true",
        "DURAGRAPH_CONFIG": str(CONFIG),
        "DURAGRAPH_GRAPHS": "{}",
    }
    from assistants import graphs, services

    # The graph's system assistant (LangGraph creates it at startup; our tests do).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DURAGRAPH_CONFIG", str(CONFIG))
        patch.setenv("DURAGRAPH_GRAPHS", "{}")
        graphs.registry.cache_clear()
        try:
            with django_db_blocker.unblock():
                services.assistants_ensure_system()
        finally:
            graphs.registry.cache_clear()
    logs = tmp_path_factory.mktemp("custom-auth")
    process, url = start_api_server("custom-auth-api", env, logs)
    executor = start_executor(env, logs, name="exec-custom-auth")
    yield url
    executor.stop()
    process.stop()


def test_the_documented_example_gives_langgraph_devs_answers(server):
    reference = json.loads(REFERENCE.read_text())["outcomes"]
    ours = custom_auth_scenario.run(server)

    for step, (theirs, mine) in DEVIATIONS.items():
        assert reference[step] == theirs, step
        assert ours.pop(step) == mine, step
        reference.pop(step)
    steps = sorted(set(reference) | set(ours))
    different = {
        step: {"reference": reference.get(step), "ours": ours.get(step)}
        for step in steps
        if ours.get(step) != reference.get(step)
    }
    assert different == {}, json.dumps(different, indent=1, sort_keys=True)


def test_refusals_are_json_with_the_handlers_detail(server):
    forged = httpx.post(
        f"{server}/threads/search", json={}, headers={"Authorization": "Bearer nobody"}
    )
    assert forged.status_code == 401
    assert forged.json() == {"detail": "Invalid token"}
    missing = httpx.post(f"{server}/threads/search", json={})
    assert missing.status_code == 401
    assert set(missing.json()) == {"detail"}


def test_api_keys_do_not_open_the_api_when_custom_auth_decides(server, django_db_blocker):
    from accounts import services

    with django_db_blocker.unblock():
        _, key = services.create_api_key(name="custom-auth e2e")
    answer = httpx.post(f"{server}/threads/search", json={}, headers={"x-api-key": key})
    assert answer.status_code == 401
