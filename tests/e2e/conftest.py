"""End-to-end fixtures: a real daphne process on a free port, on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.db import connection

from duragraph_site.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
E2E_GRAPHS = ROOT / "tests" / "e2e" / "graphs.py"


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
def server_env(django_db_setup, django_db_blocker, tmp_path_factory) -> dict[str, str]:
    """The environment of every process the e2e tests start: same database, test graphs."""
    with django_db_blocker.unblock():
        url = database_url()
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "CELERY_BROKER_URL")}
    env.update(
        {
            "DATABASE_URL": url,
            "DURAGRAPH_HOME": str(tmp_path_factory.mktemp("duragraph-home")),
            "DURAGRAPH_GRAPHS": f"{E2E_GRAPHS}:GRAPHS",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@pytest.fixture(scope="session")
def api_server(server_env) -> LiveServer:
    """daphne serving the ASGI app, as in production (stopped before the test DB is dropped)."""
    port = free_port()
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(url, process)
        yield LiveServer(url=url, process=process, env=server_env)
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
