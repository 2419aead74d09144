"""WebSockets for the dashboard: the same stream frames as the SSE endpoints, as JSON text.

- ``/ws/runs/<run_id>``: the run's frames from its start (or after ``?last_event_id=N``), then
  the socket is closed (code 1000) when the run ended. ``?stream_mode=`` narrows the modes.
- ``/ws/threads/<thread_id>``: every run of the thread from now on (or after
  ``?last_event_id=N``), ``metadata {"status": "run_done"}`` after each; open until the client
  leaves or the thread is deleted.

Each message is ``{"event": <name>, "data": <json>, "id": <id>}`` (:meth:`Frame.as_json`); the
ids are the SSE ids. An unknown run or thread, or a bad parameter, closes the socket with 4404 /
4422 right after accepting it (so a browser sees the reason).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

from duragraph_site.errors import InvalidInput
from runs import streams
from runs.metrics import WEBSOCKET_STREAMS_OPEN, counted
from runs.streams import Frame

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404
CLOSE_INVALID = 4422


class _StreamConsumer(AsyncWebsocketConsumer, abc.ABC):
    """Accepts, then pumps :meth:`frames` to the socket from a task until they end or the
    client goes away."""

    _pump: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self.accept()
        try:
            frames = await self.frames()
        except InvalidInput as error:
            await self._refuse(CLOSE_INVALID, error.message)
            return
        if frames is None:
            await self._refuse(CLOSE_NOT_FOUND, "not found")
            return
        self._pump = asyncio.create_task(self._send_all(frames))

    async def disconnect(self, code: int) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass  # the stream is one-way; anything the client sends is ignored

    @abc.abstractmethod
    async def frames(self) -> AsyncIterator[Frame | None] | None:
        """The frames to send, or None for an unknown id (raises InvalidInput on bad input)."""

    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.scope.get("query_string", b"").decode())

    async def _refuse(self, code: int, reason: str) -> None:
        await self.send(text_data=orjson.dumps({"event": "error", "data": reason}).decode())
        await self.close(code=code)

    async def _send_all(self, frames: AsyncIterator[Frame | None]) -> None:
        with counted(WEBSOCKET_STREAMS_OPEN):
            try:
                async for frame in frames:
                    if frame is not None:  # heartbeats: WebSocket pings are the server's job
                        await self.send(text_data=orjson.dumps(frame.as_json()).decode())
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - close the socket with a reason, not silently
                logger.exception("WebSocket stream failed")
                await self.close(code=1011)
                return
            finally:
                await frames.aclose()  # type: ignore[attr-defined]
        await self.close(code=1000)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _thread_exists(thread_id: uuid.UUID) -> bool:
    from threads.models import Thread

    return Thread.objects.filter(thread_id=thread_id).exists()


class RunStreamConsumer(_StreamConsumer):
    """``/ws/runs/<run_id>``."""

    async def frames(self) -> AsyncIterator[Frame | None] | None:
        run_id = _uuid(self.scope["url_route"]["kwargs"]["run_id"])
        query = self.query()
        modes = [m for value in query.get("stream_mode", []) for m in value.split(",") if m]
        if unknown := [m for m in modes if m not in streams.RUN_MODES]:
            raise InvalidInput(f"unknown stream mode(s) {unknown}")
        after = streams.parse_last_event_id((query.get("last_event_id") or [""])[0])
        if run_id is None or await streams.db_call(streams.run_info, run_id) is None:
            return None
        return streams.run_stream(run_id, modes=modes, last_event_id=after)


class ThreadStreamConsumer(_StreamConsumer):
    """``/ws/threads/<thread_id>``."""

    async def frames(self) -> AsyncIterator[Frame | None] | None:
        thread_id = _uuid(self.scope["url_route"]["kwargs"]["thread_id"])
        query = self.query()
        modes = [m for value in query.get("stream_mode", []) for m in value.split(",") if m]
        if unknown := [m for m in modes if m not in streams.THREAD_MODES]:
            raise InvalidInput(f"unknown stream mode(s) {unknown}")
        after = streams.parse_last_event_id((query.get("last_event_id") or [""])[0])
        if thread_id is None or not await streams.db_call(_thread_exists, thread_id):
            return None
        return streams.thread_stream(thread_id, modes=modes or ["run_modes"], last_event_id=after)
