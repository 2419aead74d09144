"""Webhook targets through the real API and the real sender, on real PostgreSQL: a refused
webhook is a 422 that writes nothing, and ``runs.webhooks.deliver`` calls only checked
addresses (a real HTTP server here records what reaches it)."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import time

import httpx
import pytest
from rest_framework.test import APIClient

from runs import webhooks
from runs.models import Run

pytestmark = pytest.mark.django_db


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records each POST; answers ``server.status`` (and ``server.location`` as a redirect)."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Host"], body))
        self.send_response(self.server.status)
        if self.server.location:
            self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook_server():
    """A real HTTP server on 127.0.0.1 that records the requests it receives."""
    servers = []

    def start(status: int = 204, location: str | None = None):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.received, server.status, server.location = [], status, location
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def no_allowed_hosts(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    return settings


def create(api, thread, assistant, webhook: str, *, stateless: bool = False):
    url = "/runs" if stateless else f"/threads/{thread.thread_id}/runs"
    body = {"assistant_id": str(assistant.assistant_id), "input": {}, "webhook": webhook}
    return api.post(url, body, format="json")


# -- at run creation --------------------------------------------------------------------------


@pytest.mark.parametrize("stateless", [False, True], ids=["thread", "stateless"])
@pytest.mark.parametrize(
    ("webhook", "reason"),
    [
        ("http://127.0.0.1:{port}/hook", "loopback"),
        ("http://10.0.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://localhost:{port}/hook", "loopback"),  # a name resolving to loopback
        ("http://[::ffff:127.0.0.1]:{port}/hook", "loopback"),
        ("ftp://example.com/hook", "scheme"),
    ],
)
def test_a_webhook_to_a_refused_target_is_a_422_that_writes_nothing(
    api, thread, assistant, log_counter, hook_server, no_allowed_hosts, webhook, reason, stateless
):
    server = hook_server()
    before, runs_before = log_counter.snapshot(), Run.objects.count()

    response = create(
        api, thread, assistant, webhook.format(port=server.server_port), stateless=stateless
    )

    assert response.status_code == 422, response.content
    assert set(response.json()) == {"detail"}
    assert "webhook" in response.json()["detail"] and reason in response.json()["detail"]
    assert log_counter.snapshot() == before and Run.objects.count() == runs_before
    assert server.received == []


def test_a_cron_cannot_be_changed_to_call_a_refused_target(
    api, thread, assistant, no_allowed_hosts
):
    created = api.post(
        f"/threads/{thread.thread_id}/runs/crons",
        {"assistant_id": str(assistant.assistant_id), "schedule": "* * * * *"},
        format="json",
    )
    assert created.status_code == 200, created.content
    cron_id = created.json()["cron_id"]
    response = api.patch(
        f"/runs/crons/{cron_id}", {"webhook": "http://169.254.169.254/latest/"}, format="json"
    )
    assert response.status_code == 422, response.content
    assert "webhook" in response.json()["detail"]
    assert api.get(f"/runs/crons/{cron_id}").json().get("payload", {}).get("webhook") is None


def test_a_name_that_does_not_resolve_yet_is_accepted(api, thread, assistant, no_allowed_hosts):
    response = create(api, thread, assistant, "https://hooks.invalid/x")
    assert response.status_code == 200, response.content


def test_an_allowed_host_is_accepted_and_called(api, thread, assistant, hook_server, settings):
    server = hook_server()
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    url = f"http://127.0.0.1:{server.server_port}/hook"
    response = create(api, thread, assistant, url)
    assert response.status_code == 200, response.content
    run_id = response.json()["run_id"]
    assert response.json()["kwargs"]["webhook"] == url

    assert webhooks.deliver(run_id, url) == 204

    [(path, host, body)] = server.received
    assert (path, host) == ("/hook", f"127.0.0.1:{server.server_port}")
    assert run_id.encode() in body


# -- at send time -----------------------------------------------------------------------------


@pytest.fixture
def run_with_webhook(api, thread, assistant, hook_server, settings):
    """A run whose webhook (``localhost``, the server's port) was allowed when it was created."""
    server = hook_server()
    url = f"http://localhost:{server.server_port}/hook"
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    response = create(api, thread, assistant, url)
    assert response.status_code == 200, response.content
    return response.json()["run_id"], url, server


def test_a_target_refused_at_send_time_is_not_called(run_with_webhook, settings, caplog):
    run_id, url, server = run_with_webhook
    settings.WEBHOOK_ALLOWED_HOSTS = []

    with caplog.at_level(logging.WARNING, logger="runs.webhooks"):
        assert webhooks.deliver(run_id, url) is None

    assert server.received == []
    assert f"Webhook of run {run_id} not called" in caplog.text
    assert "localhost (127.0.0.1) is a loopback address" in caplog.text


def test_the_checked_address_is_called_with_the_original_host_header(run_with_webhook):
    run_id, url, server = run_with_webhook
    assert webhooks.deliver(run_id, url) == 204
    [(_path, host, _body)] = server.received
    assert host == f"localhost:{server.server_port}"


def test_redirects_are_not_followed(run_with_webhook, hook_server, settings):
    run_id, url, server = run_with_webhook
    elsewhere = hook_server()
    server.status, server.location = 307, f"http://localhost:{elsewhere.server_port}/other"

    assert webhooks.deliver(run_id, url) == 307

    assert len(server.received) == 1 and elsewhere.received == []


def test_a_5xx_raises_so_the_task_retries(run_with_webhook):
    run_id, url, server = run_with_webhook
    server.status = 503
    with pytest.raises(httpx.HTTPStatusError):
        webhooks.deliver(run_id, url)


def test_a_name_that_does_not_resolve_at_send_time_is_a_transport_error(run_with_webhook):
    run_id, _url, _server = run_with_webhook
    with pytest.raises(httpx.ConnectError, match="does not resolve"):
        webhooks.deliver(run_id, "https://hooks.invalid/x")


@pytest.fixture
def raw_server():
    """A TCP server on 127.0.0.1 that runs ``behaviour(connection)`` for each connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    behaviour = {}

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=behaviour["run"], args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], behaviour
    listener.close()


def test_a_peer_that_never_answers_is_bounded_by_the_deadline(
    run_with_webhook, raw_server, settings, monkeypatch
):
    run_id, _url, _server = run_with_webhook
    port, behaviour = raw_server
    behaviour["run"] = lambda connection: time.sleep(5)  # reads nothing, answers nothing
    monkeypatch.setattr(webhooks, "DEADLINE_SECONDS", 0.5)

    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException, match="no answer within"):
        webhooks.deliver(run_id, f"http://localhost:{port}/hook")
    assert time.monotonic() - started < 3


def test_the_response_body_is_not_read(run_with_webhook, raw_server):
    run_id, _url, _server = run_with_webhook
    port, behaviour = raw_server

    def huge_answer(connection):
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 1024)
        time.sleep(5)  # the rest never comes: reading it would hit the deadline

    behaviour["run"] = huge_answer
    started = time.monotonic()
    assert webhooks.deliver(run_id, f"http://localhost:{port}/hook") == 200
    assert time.monotonic() - started < 3


def test_with_webhooks_disabled_in_langgraph_json_none_is_called(
    run_with_webhook, tmp_path, monkeypatch, caplog
):
    run_id, url, server = run_with_webhook
    config = tmp_path / "langgraph.json"
    config.write_text('{"http": {"disable_webhooks": true}}')
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(config))
    with caplog.at_level(logging.INFO, logger="runs.webhooks"):
        assert webhooks.deliver(run_id, url) is None
    assert server.received == []
    assert "langgraph.json disables webhooks" in caplog.text
    config.write_text('{"http": {"disable_webhooks": false}}')
    assert webhooks.deliver(run_id, url) == 204 and len(server.received) == 1
