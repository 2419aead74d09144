"""The embedded PostgreSQL shared by processes (``duragraph_site.embedded``): several processes
starting at once get one server; it lives while any of them does, survives a SIGKILLed client,
and stops when the last one exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.e2e.processes import clean_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

#: A client: attaches (starting the server if needed), prints the postmaster's pid, then holds
#: a connection until told to go (a line on stdin) and exits normally (detaching).
CLIENT = """
import sys, psycopg
from duragraph_site import embedded
url = embedded.postgres().url()
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute("select 1")
    pid = int((embedded.postgres().pgdata / "postmaster.pid").read_text().split()[0])
    print(pid, flush=True)
    sys.stdin.readline()
    conn.execute("select 1")
"""


def start_client(home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT],
        cwd=ROOT,
        env=clean_env(home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def postmaster_pid(client: subprocess.Popen) -> int:
    line = client.stdout.readline()
    assert line, client.stderr.read()
    return int(line)


def release(client: subprocess.Popen) -> None:
    """Let it go and check it exited cleanly (its last query worked)."""
    _, errors = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, errors


def discard(client: subprocess.Popen) -> None:
    """Kill it if it still runs and close its pipes."""
    if client.poll() is None:
        client.kill()
    client.communicate(timeout=30)


def server_running(home: Path) -> bool:
    pid_file = home / "pgdata" / "postmaster.pid"
    return pid_file.exists() and psutil.pid_exists(int(pid_file.read_text().split()[0]))


def wait_stopped(home: Path, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while server_running(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not server_running(home)


def test_processes_starting_at_once_share_one_server_until_the_last_leaves(tmp_path):
    home = tmp_path / "home"
    clients = [start_client(home) for _ in range(4)]  # a fresh home: all race to initdb/start
    try:
        pids = {postmaster_pid(client) for client in clients}
        assert len(pids) == 1, "one server for everyone"
        for client in clients[:-1]:
            release(client)
            assert server_running(home), "still used by the last client"
        release(clients[-1])
        assert wait_stopped(home), "the last client out stops it"
    finally:
        for client in clients:
            discard(client)


def test_a_sigkilled_client_does_not_keep_the_server_alive(tmp_path):
    home = tmp_path / "home"
    killed = start_client(home)
    survivor = start_client(home)
    try:
        assert postmaster_pid(killed) == postmaster_pid(survivor)
        os.kill(killed.pid, signal.SIGKILL)  # no chance to detach
        killed.wait(10)
        assert server_running(home), "the survivor still uses it"
        release(survivor)
        assert wait_stopped(home), "the dead client is forgotten; the survivor stops it"

        again = start_client(home)  # and the next process starts it again on the same data
        try:
            assert postmaster_pid(again) > 0
            release(again)
        finally:
            discard(again)
        assert wait_stopped(home)
    finally:
        discard(killed)
        discard(survivor)
