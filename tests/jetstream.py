"""Reading what the relay put into JetStream, for the relay's integration and e2e tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.js.errors

from events import relay


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
