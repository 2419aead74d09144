"""``manage.py dev`` from nothing: embedded PostgreSQL and NATS, admin, Ctrl-C, restart on the same data."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from duragraph_site.embedded import free_port
from tests.e2e.processes import Process, clean_env, start_dev, stop, wait_ok

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def admin_login(base: str, username: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        yield _logged_in(client, base, username, password)


def _logged_in(client: httpx.Client, base: str, username: str, password: str) -> httpx.Client:
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": password,
            "next": "/admin/",
        },
        headers={"Referer": f"{base}/admin/login/"},
    )
    assert response.status_code == 302 and response.headers["location"] == "/admin/", response.text[
        :500
    ]
    return client


def children_of(process: Process) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def test_dev_runs_everything_and_restarts_on_the_same_data(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    first = start_dev(home, port)
    startup = wait_ok(base, first)
    assert startup < 60
    credentials = (home / "admin-credentials.txt").read_text()
    username = re.search(r"username: (\S+)", credentials).group(1)
    password = re.search(r"password: (\S+)", credentials).group(1)

    health = httpx.get(f"{base}/health").json()
    assert health["status"] == "healthy" and health["postgres"]["ok"]
    assert health["nats"]["ok"] and health["nats"]["server"].startswith("127.0.0.1:")
    assert "django_http_requests_total_by_method_total" in httpx.get(f"{base}/metrics").text
    children = children_of(first)
    commands = [" ".join(c.cmdline()) for c in children]
    assert any("daphne" in command for command in commands) and any(
        "nats-server" in command for command in commands
    )

    with admin_login(base, username, password) as client:
        assert client.get("/admin/runs/run/").status_code == 200

    # Another process attaches to the same embedded PostgreSQL and records a run.
    script = (
        "from assistants import services as a; from threads import services as t; from runs import services as r;"
        "x=a.assistant_create(graph_id='agent'); th=t.thread_create();"
        "print(r.run_create(thread_id=th.thread_id, assistant_id=x.assistant_id).run_id)"
    )
    created = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=clean_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    run_id = created.stdout.strip().splitlines()[-1]

    output = stop(first)
    assert "password:" in output  # printed on first start only
    assert not any(c.is_running() for c in children)
    assert not (home / "pgdata" / "postmaster.pid").exists(), (
        f"PostgreSQL still running after Ctrl-C; the stack printed:\n{output}"
    )

    second = start_dev(home, port)
    try:
        wait_ok(base, second)
        with admin_login(base, username, password) as client:  # same credentials: same database
            page = client.get(f"/admin/runs/run/{run_id}/change/")
        assert page.status_code == 200 and run_id in page.text and "RunCreated" in page.text
    finally:
        output = stop(second)
    assert "password:" not in output
    assert f"see {home / 'admin-credentials.txt'}" in output
