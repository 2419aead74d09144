"""WebSockets for the dashboard: the same stream frames as the SSE endpoints, as JSON text.

- ``/ws/runs/<run_id>``: the run's frames from its start (or after ``?last_event_id=N``), then
  the socket is closed (code 1000) when the run ended. ``?stream_mode=`` narrows the modes.
- ``/ws/threads/<thread_id>``: every run of the thread from now on (or after
  ``?last_event_id=N``), ``metadata {"status": "run_done"}`` after each; open until the client
  leaves or the thread is deleted.
- ``/ws/runs/<run_id>/events``: the run's stored events themselves (``event`` frames with the
  event's JSON, ids its versions) from the start or after ``?after_version=N``, until it ended:
  the dashboard's event log, timeline and graph.
- ``/ws/activity``: hints that runs changed (``run {"run_id", "type"}``, or ``changed {}``
  without NATS): the dashboard's live lists and counters re-read what they show.
- ``/threads/<thread_id>/stream/events``: LangGraph's streaming protocol v2 over one socket
  (:class:`ProtocolEventsConsumer`; its own message format, below).

Each message is ``{"event": <name>, "data": <json>, "id": <id>}`` (:meth:`Frame.as_json`); the
ids are the SSE ids. An unknown run or thread, or a bad parameter, closes the socket with 4404 /
4422 right after accepting it (so a browser sees the reason). Another tenant's run or thread is
an unknown one: the caller is ``scope["principal"]`` (put there by the authentication
middleware; absent: :data:`accounts.domain.ANONYMOUS`, which sees every tenant).

With LangGraph custom auth, reading a stream is ``threads``/``read`` (``thread_id``, and
``run_id`` for a run), as for the SSE joins: a run or thread whose metadata the handler's
filters exclude is an unknown one (4404); a refusal of the handler closes with 4000 + its
status (4403 for ``False``).
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
from rest_framework import exceptions

from accounts.domain import ANONYMOUS, Principal
from duragraph_site.errors import InvalidInput, NotFound
from runs import protocol, stream_log, streams
from runs.api import access
from runs.api import protocol as protocol_api
from runs.domain import visible_to
from runs.frames import RUN_MODES, THREAD_MODES, Frame, parse_last_event_id
from runs.metrics import WEBSOCKET_STREAMS_OPEN, counted
from threads.api.access import thread_authorized

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
        except exceptions.APIException as refused:  # the custom auth handler's 403, 418...
            await self._refuse(4000 + refused.status_code, str(refused.detail))
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

    def principal(self) -> Principal:
        principal = self.scope.get("principal")
        return principal if isinstance(principal, Principal) else ANONYMOUS

    def tenant_scope(self) -> str | None:
        """The tenant the caller sees (None: every tenant)."""
        return self.principal().tenant_scope

    async def run_visible(self, run_id: uuid.UUID) -> bool:
        """Whether the caller may follow the run (unknown, another tenant's or filtered out by
        the custom auth: no)."""
        try:
            await stream_log.db_call(
                access.run_known_by_id, self.principal(), self.tenant_scope(), run_id
            )
        except NotFound:
            return False
        return True

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


class RunStreamConsumer(_StreamConsumer):
    """``/ws/runs/<run_id>``."""

    async def frames(self) -> AsyncIterator[Frame | None] | None:
        run_id = _uuid(self.scope["url_route"]["kwargs"]["run_id"])
        query = self.query()
        modes = [m for value in query.get("stream_mode", []) for m in value.split(",") if m]
        if unknown := [m for m in modes if m not in RUN_MODES]:
            raise InvalidInput(f"unknown stream mode(s) {unknown}")
        after = parse_last_event_id((query.get("last_event_id") or [""])[0])
        if run_id is None or not await self.run_visible(run_id):
            return None
        return streams.run_stream(run_id, modes=modes, last_event_id=after)


class ThreadStreamConsumer(_StreamConsumer):
    """``/ws/threads/<thread_id>``."""

    async def frames(self) -> AsyncIterator[Frame | None] | None:
        thread_id = _uuid(self.scope["url_route"]["kwargs"]["thread_id"])
        query = self.query()
        modes = [m for value in query.get("stream_mode", []) for m in value.split(",") if m]
        if unknown := [m for m in modes if m not in THREAD_MODES]:
            raise InvalidInput(f"unknown stream mode(s) {unknown}")
        after = parse_last_event_id((query.get("last_event_id") or [""])[0])
        if thread_id is None or not await stream_log.db_call(
            stream_log.thread_exists, thread_id, self.tenant_scope()
        ):
            return None
        try:
            await stream_log.db_call(thread_authorized, self.principal(), thread_id, "read")
        except NotFound:
            return None
        return streams.thread_stream(thread_id, modes=modes or ["run_modes"], last_event_id=after)


class RunEventsConsumer(_StreamConsumer):
    """``/ws/runs/<run_id>/events``."""

    async def frames(self) -> AsyncIterator[Frame | None] | None:
        run_id = _uuid(self.scope["url_route"]["kwargs"]["run_id"])
        raw = (self.query().get("after_version") or ["0"])[0]
        if not raw.isdigit():
            raise InvalidInput(f"after_version must be a whole number, not {raw!r}")
        if run_id is None or not await self.run_visible(run_id):
            return None
        return streams.run_events(run_id, after_version=int(raw))


class ActivityConsumer(_StreamConsumer):
    """``/ws/activity``. A caller scoped to one tenant hears of its own runs only (and of
    ``changed``, which names none)."""

    async def frames(self) -> AsyncIterator[Frame | None] | None:
        feed = streams.activity()
        tenant = self.tenant_scope()
        return feed if tenant is None else _runs_of(feed, tenant)


async def _runs_of(feed: AsyncIterator[Frame | None], tenant: str) -> AsyncIterator[Frame | None]:
    """The hints of *feed* about runs of *tenant* (each run's tenant looked up once)."""
    tenants: dict[str, str | None] = {}
    try:
        async for frame in feed:
            if frame is not None and frame.event == "run":
                run_id = frame.data["run_id"]
                if run_id not in tenants:
                    if len(tenants) > 10_000:
                        tenants.clear()
                    info = await stream_log.db_call(stream_log.run_info, uuid.UUID(run_id))
                    tenants[run_id] = None if info is None else info.tenant
                if tenants[run_id] is None or not visible_to(tenants[run_id], tenant):
                    continue
            yield frame
    finally:
        await feed.aclose()  # type: ignore[attr-defined]


class ProtocolEventsConsumer(AsyncWebsocketConsumer):
    """``/threads/<thread_id>/stream/events`` (LangGraph's WebSocket route; the SDK's
    ``client.threads.stream(..., transport="websocket")``): every text frame the client sends
    is a protocol command, answered on the socket with its envelope. ``subscription.subscribe``
    (params: the ``EventStreamRequest`` of ``POST .../stream/events``, ``since`` included)
    starts sending the thread's events that match, numbered as on every connection, replayed
    from the thread's first run, then live; ``subscription.unsubscribe`` stops them;
    ``run.start`` and ``input.respond`` are answered as over HTTP
    (:func:`runs.api.protocol.answer`). An unknown or invisible thread closes the socket with
    4404 after an error frame ``{"type": "error", "id": null, ...}``; the thread's deletion
    closes it with 1000."""

    async def connect(self) -> None:
        await self.accept()
        self.subscriptions: dict[str, asyncio.Task[None]] = {}
        self.thread_id = _uuid(self.scope["url_route"]["kwargs"]["thread_id"])
        principal = self.scope.get("principal")
        self.principal = principal if isinstance(principal, Principal) else ANONYMOUS
        try:
            if self.thread_id is None or not await stream_log.db_call(
                stream_log.thread_exists, self.thread_id, self.principal.tenant_scope
            ):
                raise NotFound("Thread not found")
            await stream_log.db_call(thread_authorized, self.principal, self.thread_id, "read")
        except NotFound as error:
            await self._refuse(CLOSE_NOT_FOUND, "no_such_run", error.message)
        except exceptions.APIException as refused:  # the custom auth handler's 403, 418...
            await self._refuse(4000 + refused.status_code, "permission_denied", str(refused.detail))

    async def disconnect(self, code: int) -> None:
        for task in list(getattr(self, "subscriptions", {}).values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            command = orjson.loads(text_data if text_data is not None else bytes_data or b"")
        except orjson.JSONDecodeError:
            await self._send(
                protocol_api.error_envelope(
                    None, "invalid_argument", "Protocol commands must be valid JSON."
                )
            )
            return
        method = command.get("method") if isinstance(command, dict) else None
        if method in protocol_api.SUBSCRIPTION_COMMANDS and isinstance(command.get("id"), int):
            await self._send(self._subscription_command(command))
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in self.scope.get("headers", [])
        }
        caller = protocol_api.caller_of(self.principal, headers)
        _, answer = await stream_log.db_call(protocol_api.answer, caller, self.thread_id, command)
        await self._send(answer)

    def _subscription_command(self, command: dict[str, Any]) -> dict[str, Any]:
        params = command.get("params") if isinstance(command.get("params"), dict) else {}
        if command["method"] == "subscription.subscribe":
            try:
                wanted = protocol_api.event_filter(params)
            except InvalidInput as error:
                return protocol_api.error_envelope(command["id"], "invalid_argument", error.message)
            subscription_id = str(uuid.uuid4())
            self.subscriptions[subscription_id] = asyncio.create_task(self._pump(wanted))
            result = {"subscription_id": subscription_id, "replayed_events": 0}
        elif command["method"] == "subscription.unsubscribe":
            task = self.subscriptions.pop(str(params.get("subscription_id")), None)
            if task is None:
                message = f"Unknown subscription: {params.get('subscription_id')}"
                return protocol_api.error_envelope(command["id"], "no_such_subscription", message)
            task.cancel()
            result = {}
        else:
            return protocol_api.error_envelope(
                command["id"], "not_supported", f"{command['method']} is not served"
            )
        return {"type": "success", "id": command["id"], "result": result, "meta": {}}

    async def _pump(self, wanted: protocol.Filter) -> None:
        """Send the thread's events *wanted* asks for, until the thread is deleted."""
        frames = protocol_api.numbered(streams.protocol_stream(self.thread_id), wanted)
        with counted(WEBSOCKET_STREAMS_OPEN):
            try:
                async for frame in frames:
                    if frame is not None:  # heartbeats: WebSocket pings are the server's job
                        await self._send(frame.data)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - tell the client, as LangGraph does, then close
                logger.exception("protocol WebSocket stream failed")
                await self._send(
                    protocol_api.error_envelope(None, "unknown_error", "the thread stream failed")
                )
                await self.close(code=1011)
                return
            finally:
                await frames.aclose()  # type: ignore[attr-defined]
        await self.close(code=1000)  # the thread was deleted: nothing more will come

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=orjson.dumps(message).decode())

    async def _refuse(self, code: int, error: str, message: str) -> None:
        await self._send(protocol_api.error_envelope(None, error, message))
        await self.close(code=code)
