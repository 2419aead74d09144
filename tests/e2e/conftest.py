"""End-to-end fixtures: a real daphne process on a free port, on the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from duragraph_site.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
E2E_GRAPHS = ROOT / "tests" / "e2e" / "graphs.py"
#: The graphs the live server registers on top of the repo's langgraph.json (a JSON object).
E2E_GRAPH_SPECS = {
    "simple": f"{E2E_GRAPHS}:simple",
    "effects": f"{E2E_GRAPHS}:effects",
    "chain": f"{E2E_GRAPHS}:chain",
    "cached": f"{E2E_GRAPHS}:cached",
    "delegating": f"{E2E_GRAPHS}:delegating",
    "tooled": f"{E2E_GRAPHS}:tooled",
    # The streaming tests' graphs (tests/e2e/stream_graphs.py), also served by the reference
    # server when tests/e2e/record_reference_streams.py records the fixture.
    **{
        name: f"{ROOT / 'tests' / 'e2e' / 'stream_graphs.py'}:{name}"
        for name in ("writer", "chatty", "nested", "failing", "paced")
    },
}
#: The database name in the settings, before pytest-django swaps in the test database.
CONFIGURED_DB_NAME = settings.DATABASES["default"]["NAME"]


def database_url() -> str:
    """A libpq URL for the database the tests use (the test database once it is set up)."""
    settings = connection.settings_dict
    connection.ensure_connection()  # resolves the embedded server's socket into HOST
    user = settings["USER"] or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings["HOST"]
    if host.startswith("/"):
        return f"postgresql://{user}{password}@/{settings['NAME']}?host={host}"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgresql://{user}{password}@{host}{port}/{settings['NAME']}"


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path


def wait_until_ok(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{url}/ok did not answer within {timeout}s")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, django_db_keepdb):
    """The migrated test database, also on an e2e-only run.

    pytest-django creates the databases of the tests that ask for ``db``; e2e tests never do
    (the live server commits through its own connections), so on ``pytest tests/e2e`` nothing
    would be created and the server would run on the unmigrated development database.
    """
    from django.test.utils import setup_databases, teardown_databases

    if connection.settings_dict["NAME"] != CONFIGURED_DB_NAME:
        yield  # already set up for the other tests of this session
        return
    with django_db_blocker.unblock():
        old_config = setup_databases(
            verbosity=0, interactive=False, keepdb=django_db_keepdb, aliases={"default"}
        )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(old_config, verbosity=0)


@pytest.fixture(scope="session")
def server_env(django_db_setup, django_db_blocker, tmp_path_factory) -> dict[str, str]:
    """The environment of every process the e2e tests start: same database, test graphs."""
    with django_db_blocker.unblock():
        url = database_url()
    # NATS only where a test asks for it (nats_url); the broker from CELERY_BROKER_URL when set
    # (CI's Redis), else kombu's transport on the test database, with a queue of this run's own.
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env.update(
        {
            "DATABASE_URL": url,
            "DURAGRAPH_CELERY_QUEUE": f"duragraph-e2e-{uuid.uuid4().hex[:8]}",
            "DURAGRAPH_HOME": str(tmp_path_factory.mktemp("duragraph-home")),
            "DURAGRAPH_GRAPHS": json.dumps(E2E_GRAPH_SPECS),
            "PYTHONPATH": str(ROOT),
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "AUTH_ENABLED": "false",
            "RATE_LIMIT_ENABLED": "false",
        }
    )
    return env


@pytest.fixture(scope="package")
def e2e_database(django_db_setup, django_db_blocker):
    """Empties the test database once the e2e tests are done.

    The live server commits; the integration tests that run next in the same session expect an
    empty database (they roll back their own writes) and the event log cannot be deleted from.
    Django's ``flush`` truncates every table, as after a transactional test.
    """
    from django.core.management import call_command

    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="package")
def system_assistants(e2e_database, server_env, django_db_blocker) -> None:
    """Every graph's default assistant, so runs can name a graph (``assistant_id="simple"``).

    The server does not create them at startup (LangGraph does), so the tests do it, with the
    registry the server builds: the repo's langgraph.json plus the e2e graphs.
    """
    from assistants import graphs, services

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.setenv("DURAGRAPH_GRAPHS", server_env["DURAGRAPH_GRAPHS"])
        graphs.registry.cache_clear()
        try:
            with django_db_blocker.unblock():
                services.assistants_ensure_system()
        finally:
            graphs.registry.cache_clear()


@pytest.fixture(scope="package")
def api_server(server_env, system_assistants, tmp_path_factory) -> LiveServer:
    """daphne serving the ASGI app, as in production (stopped before the database is flushed).

    Its output goes to ``api_server.log`` (a 500's traceback is there).
    """
    port = free_port()
    log = tmp_path_factory.mktemp("daphne") / "server.log"
    with log.open("wb") as output:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "duragraph_site.asgi:application",
            ],
            cwd=ROOT,
            env=server_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(url, process)
        yield LiveServer(url=url, process=process, env=server_env, log=log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def event_count(django_db_blocker):
    """How many events the log holds now (to prove a refused request wrote nothing)."""
    from events.models import Event

    def count() -> int:
        with django_db_blocker.unblock():
            return Event.objects.count()

    return count


@pytest.fixture
def event_log(django_db_blocker):
    """``event_log(stream_id)``: the stream's events as the log holds them now."""
    from events import store

    def load(stream_id: str | uuid.UUID) -> list:
        with django_db_blocker.unblock():
            return store.load(uuid.UUID(str(stream_id)))

    return load


@pytest.fixture(scope="package")
def nats_url(tmp_path_factory) -> str:
    """The NATS of the live-update tests: ``NATS_URL`` from the environment when set, else an
    embedded nats-server on a free port. Shared: a test that stops NATS starts its own
    (``tests.jetstream.ControlledNats``)."""
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    from duragraph_site.embedded import EmbeddedNats

    nats = EmbeddedNats.start(tmp_path_factory.mktemp("nats"), preferred_port=None)
    try:
        yield nats.url
    finally:
        nats.stop()
