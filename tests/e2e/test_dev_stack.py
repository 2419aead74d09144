"""``manage.py dev`` from nothing: embedded PostgreSQL and NATS, admin, Ctrl-C, restart on the same data."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from duragraph_site.devstack import authentication
from duragraph_site.embedded import free_port
from tests.e2e.processes import Process, clean_env, start_dev, stop, wait_ok
from tests.e2e.test_hosts_and_origins import assert_refuses_a_rebound_name, websocket_status

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

    # Loopback: authentication off, so a client needs no key (and the banner says so).
    assert httpx.post(f"{base}/threads", json={}).status_code == 200
    assert websocket_status(base, host=f"127.0.0.1:{port}", origin=None) == 101

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

    # Loopback names only (DNS rebinding): a page on a name rebound to 127.0.0.1 gets nothing.
    assert_refuses_a_rebound_name(base)
    assert httpx.get(f"http://localhost:{port}/ok").status_code == 200
    assert (
        websocket_status(base, host=f"localhost:{port}", origin=f"http://localhost:{port}") == 101
    )

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
    assert "Answering to Host: localhost, 127.0.0.1, [::1] " in output
    assert (
        "Authentication: off (loopback dev server; set AUTH_ENABLED=true to require keys)" in output
    )
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


# -- authentication -----------------------------------------------------------------------------
OFF = "Authentication: off (loopback dev server; set AUTH_ENABLED=true to require keys)"


@pytest.mark.parametrize(
    ("host", "environ", "custom", "enabled", "banner"),
    [
        ("127.0.0.1", {}, None, False, OFF),
        ("localhost", {}, None, False, OFF),
        ("::1", {}, None, False, OFF),
        ("127.0.0.1", {"AUTH_ENABLED": "true"}, None, True, "Authentication: on (AUTH_ENABLED=true)"),
        ("127.0.0.1", {}, "./auth.py:auth", True, "Authentication: custom (./auth.py:auth)"),
        ("0.0.0.0", {}, None, True, "Authentication: on (bound to 0.0.0.0, beyond loopback"),
        ("192.168.1.20", {}, None, True, "Authentication: on (bound to 192.168.1.20"),
        ("devbox.lan", {}, None, True, "Authentication: on (bound to devbox.lan"),
        ("0.0.0.0", {"AUTH_ENABLED": "false"}, None, False, "Authentication: off (AUTH_ENABLED=false)"),
        ("127.0.0.1", {"AUTH_ENABLED": "0"}, "./auth.py:auth", False, "Authentication: off (AUTH_ENABLED=0)"),
    ],
)  # fmt: skip
def test_dev_authentication_decision(tmp_path, host, environ, custom, enabled, banner):
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, **({"auth": {"path": custom}} if custom else {})}))
    decided = authentication(host, environ, config)
    assert decided.enabled is enabled and decided.banner.startswith(banner)


#: The smallest LangGraph custom auth: one user, "Bearer dev".
CUSTOM_AUTH = """
from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> str:
    if authorization != "Bearer dev":
        raise Auth.exceptions.HTTPException(status_code=401, detail="Unknown user")
    return "dev-user"
"""


def test_dev_keeps_authentication_on_for_custom_auth_and_beyond_loopback(tmp_path):
    """As ``langgraph dev``: a ``langgraph.json`` naming custom auth keeps it on (its handler
    decides who calls), and so does a bind address other machines reach (then an API key,
    made with ``manage.py apikey``, is what a client needs)."""
    home = tmp_path / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "auth.py").write_text(CUSTOM_AUTH)
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "auth": {"path": "./auth.py:auth"}}))

    first = start_dev(home, port, env={"DURAGRAPH_CONFIG": str(config)})
    try:
        wait_ok(base, first)
        refused = httpx.post(f"{base}/threads", json={})
        assert refused.status_code == 401 and refused.headers["www-authenticate"]
        assert websocket_status(base, host=f"127.0.0.1:{port}", origin=None) == 403
        answer = httpx.post(f"{base}/threads", json={}, headers={"authorization": "Bearer dev"})
        assert answer.status_code == 200, answer.text
    finally:
        output = stop(first)
    assert "Authentication: custom (./auth.py:auth)" in output

    second = start_dev(home, port, "--host", "0.0.0.0")
    try:
        wait_ok(base, second)
        assert httpx.post(f"{base}/threads", json={}).status_code == 401
        created = subprocess.run(
            [sys.executable, "manage.py", "apikey", "create", "--name", "dev-client"],
            cwd=ROOT,
            env=clean_env(home),
            capture_output=True,
            text=True,
            check=True,
        )
        key = created.stdout.strip().splitlines()[-1]
        answer = httpx.post(f"{base}/threads", json={}, headers={"x-api-key": key})
        assert answer.status_code == 200, answer.text
    finally:
        output = stop(second)
    assert "Authentication: on (bound to 0.0.0.0, beyond loopback;" in output


def test_dev_stops_at_start_when_custom_auth_cannot_load(tmp_path):
    """Not a server answering 500 to every request: the reason, and an exit status."""
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "auth": {"path": "./missing.py:auth"}}))
    dev = start_dev(tmp_path / "home", free_port(), env={"DURAGRAPH_CONFIG": str(config)})
    assert dev.popen.wait(timeout=120) != 0
    output = dev.log.read_text()
    assert "langgraph.json's auth cannot be loaded" in output and "missing.py" in output
