"""NATS JetStream for the relay and streaming tests: a nats-server a test controls (stop,
freeze, kill, start again as it was), and reading what the relay put into JetStream."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.js.errors

from duragraph_site.embedded import EmbeddedNats, nats_server_binary, wait_for_port
from events import relay


@dataclass
class ControlledNats:
    """An embedded nats-server the test may freeze, kill and start again (same port and store)."""

    store_dir: Path
    port: int | None = None
    server: EmbeddedNats | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "start() first"
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> ControlledNats:
        """Start the server: on a free port the first time, on the same port and store after."""
        if self.port is None:
            self.server = EmbeddedNats.start(self.store_dir, preferred_port=None)
            self.port = self.server.port
            return self
        # Again on the same port (clients hold its URL). Not through EmbeddedNats.start, which
        # moves to another port when a quick bind probe fails (a socket in TIME_WAIT, say);
        # nats-server itself binds with SO_REUSEADDR.
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        process = subprocess.Popen(
            [*argv, "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.server = EmbeddedNats(store_dir=self.store_dir, port=self.port, process=process)
        wait_for_port("127.0.0.1", self.port)
        return self

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung server)."""
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as in a crash."""
        assert self.server is not None
        self.server.process.kill()
        self.server.process.wait()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.thaw()  # a stopped process cannot handle SIGTERM
            self.server.stop()
            self.server = None


def with_jetstream(nats_url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """``await work(jetstream_context)`` on a connection of its own."""

    async def main() -> Any:
        nc = await nats.connect(nats_url)
        try:
            return await work(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(main())


def messages(nats_url: str, subject: str) -> list[Any]:
    """Every message of the DURAGRAPH stream on *subject* (wildcards allowed), in stream order."""

    async def read(js) -> list[Any]:  # noqa: ANN001
        found, seq = [], 1
        while True:
            try:
                msg = await js.get_msg(relay.STREAM_NAME, seq=seq, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                return found
            found.append(msg)
            seq = msg.seq + 1

    return with_jetstream(nats_url, read)


def count(nats_url: str, subject: str) -> int:
    """How many messages the DURAGRAPH stream holds on *subject* (0 when there is no stream)."""

    async def read(js) -> int:  # noqa: ANN001
        try:
            info = await js.stream_info(relay.STREAM_NAME, subjects_filter=subject)
        except nats.js.errors.NotFoundError:
            return 0
        return sum((info.state.subjects or {}).values())

    return with_jetstream(nats_url, read)
